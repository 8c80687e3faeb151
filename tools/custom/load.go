// Package custom loads tools that users define in YAML instead of Go: http (a
// templated request with JSON or CSS extraction of the response), command (a
// program that gets the input only as data, never through a shell, and leaves
// no process behind), prompt (a template
// sent to the language model) and mcp (the tools of a Model Context Protocol server
// over stdio). Once loaded a custom tool is a tools.Tool like any built-in.
//
// The file format is documented in configs/tools.example.yaml. Unknown keys, bad
// templates and invalid settings are errors that point at file:line:col.
package custom

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"text/template"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/rewoo-agent/agent/engine"
	"github.com/rewoo-agent/agent/engine/chat"
	"github.com/rewoo-agent/agent/internal/yamlpos"
	"github.com/rewoo-agent/agent/tools"
)

// Options are what custom tools need from the rest of the program.
type Options struct {
	LLM      engine.LLM    // for prompt tools; nil makes them fail with chat.ErrNoLLM
	Template chat.Template // wraps prompts marked chat (zero: chat.Airoboros)
	// Environ is the environment secrets and env allow-lists read from
	// (os.Environ() when nil).
	Environ []string
	// UserAgent, AllowPrivateNetworks and MaxRedirects apply to http tools as
	// they do to TextScraper; a tool may also allow private networks itself.
	UserAgent            string
	AllowPrivateNetworks bool
	MaxRedirects         int
}

// Set is the tools of one file. Close stops the MCP servers it started.
type Set struct {
	Tools []tools.Tool
	// Warnings are the problems of tools that loaded anyway (file:line:col:
	// message), such as unsafe_template. Commands print them on stderr on every
	// run, so that an unsafe tool is never silent.
	Warnings []error
	closers  []func() error
}

// Close stops every MCP server of the set.
func (s *Set) Close() error {
	var errs []error
	for _, c := range s.closers {
		errs = append(errs, c())
	}
	s.closers = nil
	return errors.Join(errs...)
}

type toolsFile struct {
	Tools []yaml.Node `yaml:"tools"`
}

type spec struct {
	Name        string       `yaml:"name"`
	Description string       `yaml:"description"`
	HTTP        *httpSpec    `yaml:"http"`
	Command     *commandSpec `yaml:"command"`
	Prompt      *promptSpec  `yaml:"prompt"`
	MCP         *mcpSpec     `yaml:"mcp"`
	// Confirm makes every call of the tool (of each of an mcp entry's tools)
	// wait for a person's approval; see tools.NeedsConfirm.
	Confirm bool `yaml:"confirm"`
}

// DisabledError is the warning for a tool of the file that did not load, and
// why; the file's other tools did.
type DisabledError struct {
	Tool string // the tool's name, or what stands for it (tools[3], mcp server x)
	Err  error  // file:line:col: message, one or more
}

func (e *DisabledError) Error() string { return fmt.Sprintf("%v (%s is disabled)", e.Err, e.Tool) }
func (e *DisabledError) Unwrap() error { return e.Err }

// LoadFile reads the tools file at path; see Load.
func LoadFile(ctx context.Context, path string, o Options) (*Set, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("tools file: %w", err)
	}
	return Load(ctx, path, data, o)
}

// Load builds the tools defined in data (named file in errors). MCP servers are
// started and asked for their tools now, within ctx; Close the set to stop them.
//
// A tool that cannot be built (an unknown key, a value of the wrong type, an
// unsafe template, a server that does not start) is left out with a
// *DisabledError in the set's Warnings, and the others load. Load fails only
// when the file as a whole cannot be read: a syntax error, or a top level that
// is not a tools: list.
func Load(ctx context.Context, file string, data []byte, o Options) (*Set, error) {
	root, err := yamlpos.Parse(file, data)
	if err != nil {
		return nil, err
	}
	set := &Set{}
	if root == nil {
		return set, nil
	}
	var f toolsFile
	if err := yamlpos.DecodeNode(file, root, &f, ""); err != nil {
		return nil, err
	}
	if o.Environ == nil {
		o.Environ = os.Environ()
	}
	if o.Template == (chat.Template{}) {
		o.Template = chat.Airoboros
	}
	warn := func(w error) { set.Warnings = append(set.Warnings, w) }
	defined := map[string]*yaml.Node{}
	for i := range f.Tools {
		node := resolve(&f.Tools[i])
		name := entryName(node, i)
		ts, closer, err := buildEntry(ctx, file, node, i, o, warn)
		if err != nil {
			warn(&DisabledError{Tool: name, Err: err})
			continue
		}
		if closer != nil {
			set.closers = append(set.closers, closer)
		}
		for _, t := range ts {
			if prev, dup := defined[t.Name()]; dup {
				warn(&DisabledError{Tool: "this " + t.Name(), Err: yamlpos.NodeError(file, node, "tool %s is already defined at line %d", t.Name(), prev.Line)})
				continue
			}
			defined[t.Name()] = node
			set.Tools = append(set.Tools, t)
		}
	}
	return set, nil
}

// buildEntry decodes and builds the tools of entry i.
func buildEntry(ctx context.Context, file string, node *yaml.Node, i int, o Options, warn func(error)) ([]tools.Tool, func() error, error) {
	if node.Kind == yaml.ScalarNode && node.Tag == "!!null" {
		return nil, nil, yamlpos.NodeError(file, node, "empty tool entry")
	}
	var s spec
	if err := yamlpos.DecodeNode(file, node, &s, fmt.Sprintf("tools[%d]", i)); err != nil {
		return nil, nil, err
	}
	ts, closer, err := s.build(ctx, file, node, o, warn)
	if s.Confirm {
		for i, t := range ts {
			ts[i] = tools.WithConfirm(t)
		}
	}
	return ts, closer, err
}

// entryName is what a warning calls entry i: its name, its MCP server or its
// place.
func entryName(n *yaml.Node, i int) string {
	if name := child(n, "name"); name != nil && name.Kind == yaml.ScalarNode && name.Value != "" {
		return "tool " + name.Value
	}
	if cmd := child(child(n, "mcp"), "command"); cmd != nil && cmd.Kind == yaml.SequenceNode && len(cmd.Content) > 0 {
		return "mcp server " + resolve(cmd.Content[0]).Value
	}
	return fmt.Sprintf("tools[%d]", i)
}

// resolve follows an alias to the node it names.
func resolve(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

// child returns the value of key in mapping n, aliases followed, or nil.
func child(n *yaml.Node, key string) *yaml.Node {
	n = resolve(n)
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return resolve(n.Content[i+1])
		}
	}
	return nil
}

func (s *spec) build(ctx context.Context, file string, node *yaml.Node, o Options, warn func(error)) ([]tools.Tool, func() error, error) {
	kinds := 0
	for _, set := range []bool{s.HTTP != nil, s.Command != nil, s.Prompt != nil, s.MCP != nil} {
		if set {
			kinds++
		}
	}
	if kinds != 1 {
		return nil, nil, yamlpos.NodeError(file, node, "a tool needs exactly one of http, command, prompt or mcp (found %d)", kinds)
	}
	if s.MCP != nil {
		if s.Name != "" || s.Description != "" {
			return nil, nil, yamlpos.NodeError(file, node, "an mcp entry takes its tools' names and descriptions from the server; use mcp.prefix to tell them apart")
		}
		return s.MCP.build(ctx, file, child(node, "mcp"), o)
	}
	if s.Name == "" || strings.ContainsAny(s.Name, "[] \t\r\n") {
		return nil, nil, yamlpos.NodeError(file, node, "tool name %q: must be non-empty without spaces or brackets", s.Name)
	}
	if strings.TrimSpace(s.Description) == "" {
		return nil, nil, yamlpos.NodeError(file, node, "tool %s: a description is required: it is what the planner shows the model", s.Name)
	}
	base := base{name: s.Name, desc: strings.Join(strings.Fields(s.Description), " ")}
	var t tools.Tool
	var err error
	switch {
	case s.HTTP != nil:
		t, err = s.HTTP.build(base, file, child(node, "http"), o)
	case s.Command != nil:
		t, err = s.Command.build(base, file, child(node, "command"), o, warn)
	case s.Prompt != nil:
		t, err = s.Prompt.build(base, file, child(node, "prompt"), o)
	}
	if err != nil {
		return nil, nil, err
	}
	return []tools.Tool{t}, nil, nil
}

// base holds what every custom tool has.
type base struct{ name, desc string }

func (b base) Name() string        { return b.name }
func (b base) Description() string { return b.desc }

// tmpl is a template string from the YAML file, remembering where it was written.
type tmpl struct {
	text      string
	line, col int
	t         *template.Template
}

func (t *tmpl) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return errors.New("a template must be a string")
	}
	t.text, t.line, t.col = n.Value, n.Line, n.Column
	return nil
}

// data is what templates see.
type data struct {
	Input string
	Raw   string
	Cited []tools.Cited
}

var envCall = regexp.MustCompile(`\benv\s+"([^"]*)"`)

// parse compiles t as the template called name; env may read only secrets.
func (t *tmpl) parse(file, name string, secrets []string, environ map[string]string) error {
	if t == nil {
		return &yamlpos.Error{File: file, Msg: name + ": empty template"}
	}
	allowed := map[string]bool{}
	for _, s := range secrets {
		allowed[s] = true
	}
	for _, m := range envCall.FindAllStringSubmatch(t.text, -1) {
		if !allowed[m[1]] {
			return &yamlpos.Error{File: file, Line: t.line, Col: t.col, Msg: fmt.Sprintf("%s: env %q is not listed in secrets", name, m[1])}
		}
	}
	funcs := template.FuncMap{
		"pathescape": pathEscape,
		"json":       jsonString,
		"trim":       strings.TrimSpace,
		"env": func(key string) (string, error) {
			if !allowed[key] {
				return "", fmt.Errorf("env %q is not listed in secrets", key)
			}
			v, ok := environ[key]
			if !ok || v == "" {
				return "", fmt.Errorf("secret %s is not set in the environment", key)
			}
			return v, nil
		},
	}
	parsed, err := template.New(name).Funcs(funcs).Option("missingkey=error").Parse(t.text)
	if err == nil {
		err = dryRun(parsed)
	}
	if err != nil {
		return &yamlpos.Error{File: file, Line: t.line, Col: t.col, Msg: fmt.Sprintf("%s: %v", name, err)}
	}
	t.t = parsed
	return nil
}

// dryRun executes t on sample data so that a misspelt field (.Inpt) or a function
// given the wrong type is an error when the file loads, not when a plan first
// calls the tool. Errors that depend on the data (an index past the evidence
// cited) are left for the call.
func dryRun(t *template.Template) error {
	c, err := t.Clone()
	if err != nil {
		return err
	}
	c.Funcs(template.FuncMap{"env": func(string) string { return "secret" }})
	sample := data{Input: "input", Raw: "input", Cited: []tools.Cited{{Name: ":evidence1:", Text: "text", Sources: []string{"https://example.com/"}}}}
	err = c.Execute(io.Discard, sample)
	if err == nil {
		return nil
	}
	for _, kind := range []string{"can't evaluate field", "wrong type for value", "wrong number of args", "can't handle", "can't call method", "is not a method"} {
		if strings.Contains(err.Error(), kind) {
			return err
		}
	}
	return nil
}

func (t *tmpl) render(req tools.Request) (string, error) {
	var b strings.Builder
	if err := t.t.Execute(&b, data{Input: req.Input, Raw: req.Raw, Cited: req.Cited}); err != nil {
		return "", err
	}
	return b.String(), nil
}

func environMap(environ []string) map[string]string {
	m := make(map[string]string, len(environ))
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok {
			m[k] = v
		}
	}
	return m
}

// allowEnv is the environment a child process gets: only the names listed.
func allowEnv(environ map[string]string, names []string) []string {
	env := []string{}
	for _, n := range names {
		if v, ok := environ[n]; ok {
			env = append(env, n+"="+v)
		}
	}
	return env
}

// orDefault returns d when v is zero or negative.
func orDefault[T int | int64 | time.Duration](v, d T) T {
	if v <= 0 {
		return d
	}
	return v
}
