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

	"github.com/rewoo-agent/agent/configs"
	"github.com/rewoo-agent/agent/engine"
	"github.com/rewoo-agent/agent/engine/chat"
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
	Tools []*spec `yaml:"tools"`
}

type spec struct {
	Name        string       `yaml:"name"`
	Description string       `yaml:"description"`
	HTTP        *httpSpec    `yaml:"http"`
	Command     *commandSpec `yaml:"command"`
	Prompt      *promptSpec  `yaml:"prompt"`
	MCP         *mcpSpec     `yaml:"mcp"`
}

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
func Load(ctx context.Context, file string, data []byte, o Options) (*Set, error) {
	var f toolsFile
	if err := configs.Decode(file, data, &f); err != nil {
		return nil, err
	}
	if o.Environ == nil {
		o.Environ = os.Environ()
	}
	if o.Template == (chat.Template{}) {
		o.Template = chat.Airoboros
	}
	var doc yaml.Node
	_ = yaml.Unmarshal(data, &doc) // Decode succeeded, so this does too
	entries := entryNodes(&doc)

	set := &Set{}
	var errs []error
	for i, s := range f.Tools {
		node := &yaml.Node{}
		if i < len(entries) {
			node = entries[i]
		}
		if s == nil {
			errs = append(errs, configs.NodeError(file, node, "empty tool entry"))
			continue
		}
		ts, closer, err := s.build(ctx, file, node, o, func(w error) { set.Warnings = append(set.Warnings, w) })
		if err != nil {
			errs = append(errs, err)
			continue
		}
		set.Tools = append(set.Tools, ts...)
		if closer != nil {
			set.closers = append(set.closers, closer)
		}
	}
	if len(errs) > 0 {
		set.Close()
		return nil, errors.Join(errs...)
	}
	return set, nil
}

// entryNodes returns the YAML nodes of the entries under tools:, for positions.
func entryNodes(doc *yaml.Node) []*yaml.Node {
	if len(doc.Content) == 0 {
		return nil
	}
	seq := child(doc.Content[0], "tools")
	if seq != nil && seq.Kind == yaml.AliasNode {
		seq = seq.Alias
	}
	if seq != nil && seq.Kind == yaml.SequenceNode {
		return seq.Content
	}
	return nil
}

// child returns the value of key in mapping n, or nil.
func child(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
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
		return nil, nil, configs.NodeError(file, node, "a tool needs exactly one of http, command, prompt or mcp (found %d)", kinds)
	}
	if s.MCP != nil {
		if s.Name != "" || s.Description != "" {
			return nil, nil, configs.NodeError(file, node, "an mcp entry takes its tools' names and descriptions from the server; use mcp.prefix to tell them apart")
		}
		return s.MCP.build(ctx, file, child(node, "mcp"), o)
	}
	if s.Name == "" || strings.ContainsAny(s.Name, "[] \t\r\n") {
		return nil, nil, configs.NodeError(file, node, "tool name %q: must be non-empty without spaces or brackets", s.Name)
	}
	if strings.TrimSpace(s.Description) == "" {
		return nil, nil, configs.NodeError(file, node, "tool %s: a description is required: it is what the planner shows the model", s.Name)
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
		return fmt.Errorf("line %d: a template must be a string", n.Line)
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
		return &configs.Error{File: file, Msg: name + ": empty template"}
	}
	allowed := map[string]bool{}
	for _, s := range secrets {
		allowed[s] = true
	}
	for _, m := range envCall.FindAllStringSubmatch(t.text, -1) {
		if !allowed[m[1]] {
			return &configs.Error{File: file, Line: t.line, Col: t.col, Msg: fmt.Sprintf("%s: env %q is not listed in secrets", name, m[1])}
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
		return &configs.Error{File: file, Line: t.line, Col: t.col, Msg: fmt.Sprintf("%s: %v", name, err)}
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
