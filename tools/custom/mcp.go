package custom

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"gopkg.in/yaml.v3"

	"github.com/rewoo-agent/agent/internal/yamlpos"
	"github.com/rewoo-agent/agent/tools"
	"github.com/rewoo-agent/agent/tools/scrape"
)

type mcpSpec struct {
	Command []string      `yaml:"command"`
	Env     []string      `yaml:"env"`
	Dir     string        `yaml:"dir"`
	Tools   []string      `yaml:"tools"`   // only these of the server's tools; all when empty
	Prefix  string        `yaml:"prefix"`  // put before each tool's name
	Timeout time.Duration `yaml:"timeout"` // per call (60s); starting the server gets the same
	// MaxChars bounds the text a call returns, as http tools' max_chars does (12000).
	MaxChars int `yaml:"max_chars"`
}

// mcpTool is one tool of an MCP server.
type mcpTool struct {
	base
	remote   string // the tool's name on the server
	session  *mcp.ClientSession
	schema   inputSchema
	timeout  time.Duration
	maxChars int
}

var _ tools.Tool = (*mcpTool)(nil)

// build starts the server and makes a tool of each of its tools.
func (m *mcpSpec) build(ctx context.Context, file string, node *yaml.Node, o Options) ([]tools.Tool, func() error, error) {
	if len(m.Command) == 0 || m.Command[0] == "" {
		return nil, nil, yamlpos.NodeError(file, node, "mcp needs command, the server program and its arguments")
	}
	timeout := orDefault(m.Timeout, time.Minute)
	cmd := exec.Command(m.Command[0], m.Command[1:]...)
	cmd.Env = allowEnv(environMap(o.Environ), m.Env)
	cmd.Dir = m.Dir
	release, err := contain(cmd)
	if err != nil {
		return nil, nil, yamlpos.NodeError(file, node, "mcp server %s: %v", strings.Join(m.Command, " "), err)
	}
	client := mcp.NewClient(&mcp.Implementation{Name: "agent", Version: "0.1"}, nil)
	startCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	session, err := client.Connect(startCtx, &mcp.CommandTransport{Command: cmd, TerminateDuration: 2 * time.Second}, nil)
	if err != nil {
		release()
		return nil, nil, yamlpos.NodeError(file, node, "mcp server %s: %v", strings.Join(m.Command, " "), err)
	}
	stop := func() error {
		err := session.Close()
		release()
		return err
	}
	fail := func(format string, args ...any) ([]tools.Tool, func() error, error) {
		stop()
		return nil, nil, yamlpos.NodeError(file, node, "mcp server %s: %s", m.Command[0], fmt.Sprintf(format, args...))
	}
	var listed []*mcp.Tool
	for t, err := range session.Tools(startCtx, nil) {
		if err != nil {
			return fail("listing tools: %v", err)
		}
		listed = append(listed, t)
	}
	found := map[string]bool{}
	var out []tools.Tool
	for _, t := range listed {
		found[t.Name] = true
		if len(m.Tools) > 0 && !slices.Contains(m.Tools, t.Name) {
			continue
		}
		desc := strings.Join(strings.Fields(t.Description), " ")
		if desc == "" {
			desc = t.Title
		}
		out = append(out, &mcpTool{
			base:     base{name: m.Prefix + t.Name, desc: desc},
			remote:   t.Name,
			session:  session,
			schema:   schemaOf(t.InputSchema),
			timeout:  timeout,
			maxChars: orDefault(m.MaxChars, 12000),
		})
	}
	for _, want := range m.Tools {
		if !found[want] {
			return fail("has no tool %q (it has %s)", want, names(listed))
		}
	}
	if len(out) == 0 {
		return fail("offers no tools")
	}
	return out, stop, nil
}

func names(ts []*mcp.Tool) string {
	var n []string
	for _, t := range ts {
		n = append(n, t.Name)
	}
	return strings.Join(n, ", ")
}

// inputSchema is what matters of a tool's JSON Schema to map a plain-text input.
type inputSchema struct {
	properties []string // sorted
	required   []string
	types      map[string]string
}

func schemaOf(s any) inputSchema {
	var raw struct {
		Properties map[string]struct {
			Type any `json:"type"`
		} `json:"properties"`
		Required []string `json:"required"`
	}
	if b, err := json.Marshal(s); err == nil {
		_ = json.Unmarshal(b, &raw) // a schema we cannot read maps inputs as JSON only
	}
	is := inputSchema{required: raw.Required, types: map[string]string{}}
	for name, p := range raw.Properties {
		is.properties = append(is.properties, name)
		if t, ok := p.Type.(string); ok {
			is.types[name] = t
		}
	}
	sort.Strings(is.properties)
	return is
}

// arguments maps a plan's text input to the tool's arguments: a JSON object is
// taken as the arguments (numbers kept as written, so that large integers stay
// exact); other text goes to the one property (or the one required property)
// that takes a string.
func (s inputSchema) arguments(input string) (map[string]any, error) {
	trimmed := strings.TrimSpace(input)
	if strings.HasPrefix(trimmed, "{") && json.Valid([]byte(trimmed)) {
		var args map[string]any
		d := json.NewDecoder(strings.NewReader(trimmed))
		d.UseNumber()
		if d.Decode(&args) == nil {
			return args, nil
		}
	}
	target := ""
	switch {
	case len(s.properties) == 1:
		target = s.properties[0]
	case len(s.required) == 1 && slices.Contains(s.properties, s.required[0]):
		target = s.required[0]
	case len(s.properties) == 0:
		return map[string]any{}, nil
	}
	if target == "" || s.types[target] != "" && s.types[target] != "string" {
		return nil, fmt.Errorf("the tool takes %s: give them as a JSON object", strings.Join(s.properties, ", "))
	}
	return map[string]any{target: input}, nil
}

// Call calls the tool on the server and returns its text content.
func (t *mcpTool) Call(ctx context.Context, req tools.Request) (tools.Output, error) {
	args, err := t.schema.arguments(req.Input)
	if err != nil {
		return tools.Output{}, fmt.Errorf("%s: %w", t.name, err)
	}
	ctx, cancel := context.WithTimeout(ctx, t.timeout)
	defer cancel()
	res, err := t.session.CallTool(ctx, &mcp.CallToolParams{Name: t.remote, Arguments: args})
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return tools.Output{}, tools.Transient(fmt.Errorf("%s: timed out after %s", t.name, t.timeout))
		}
		return tools.Output{}, fmt.Errorf("%s: %w", t.name, err)
	}
	var parts []string
	for _, c := range res.Content {
		switch c := c.(type) {
		case *mcp.TextContent:
			parts = append(parts, c.Text)
		case *mcp.EmbeddedResource:
			if c.Resource != nil && c.Resource.Text != "" {
				parts = append(parts, c.Resource.Text)
			}
		}
	}
	if len(parts) == 0 && res.StructuredContent != nil {
		b, err := json.Marshal(res.StructuredContent)
		if err == nil {
			parts = append(parts, string(b))
		}
	}
	text := strings.TrimSpace(strings.Join(parts, "\n"))
	if res.IsError {
		if text == "" {
			text = "the tool reported an error"
		}
		return tools.Output{}, fmt.Errorf("%s: %s", t.name, text)
	}
	return tools.Output{Text: scrape.Cut(text, t.maxChars)}, nil
}
