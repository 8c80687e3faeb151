package custom

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rewoo-agent/agent/configs"
	"github.com/rewoo-agent/agent/internal/yamlpos"
)

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want string // every error names tools.yaml:line:col
	}{
		{"typo in a key", "tools:\n  - name: A\n    descripton: x\n    prompt: {template: hi}\n",
			`tools.yaml:3:5: unknown field "descripton" in tools[0] (did you mean "description"?)`},
		{"typo in a kind's key", "tools:\n  - name: A\n    description: d\n    http:\n      urll: http://x\n",
			`tools.yaml:5:7: unknown field "urll" in tools[0].http (did you mean "url"?)`},
		{"unclosed action", "tools:\n  - name: A\n    description: d\n    http:\n      url: \"http://x/{{ .Input \"\n",
			`tools.yaml:5:12: A.http.url: template: A.http.url:1: unclosed action`},
		{"unknown function", "tools:\n  - name: A\n    description: d\n    prompt:\n      template: \"{{ .Input | shout }}\"\n",
			`tools.yaml:5:17: A.prompt.template: template: A.prompt.template:1: function "shout" not defined`},
		{"misspelt field", "tools:\n  - name: A\n    description: d\n    command:\n      argv: [echo, '{{ .Inpt }}']\n",
			`tools.yaml:5:20: A.command.argv[1]: template: A.command.argv[1]:1:3: executing "A.command.argv[1]" at <.Inpt>: can't evaluate field Inpt`},
		{"misspelt field of cited evidence", "tools:\n  - name: A\n    description: d\n    prompt:\n      template: '{{ range .Cited }}{{ .Txt }}{{ end }}'\n",
			`tools.yaml:5:17: A.prompt.template: template: A.prompt.template:1:21: executing "A.prompt.template" at <.Txt>: can't evaluate field Txt`},
		{"function given the wrong type", "tools:\n  - name: A\n    description: d\n    prompt:\n      template: '{{ trim .Cited }}'\n",
			`wrong type for value; expected string`},
		{"env not a secret", "tools:\n  - name: A\n    description: d\n    http:\n      url: http://x/\n      headers: {Authorization: '{{ env \"HOME\" }}'}\n",
			`tools.yaml:6:32: A.http.headers.Authorization: env "HOME" is not listed in secrets`},
		{"two kinds", "tools:\n  - name: A\n    description: d\n    prompt: {template: x}\n    command: {argv: [ls]}\n",
			`tools.yaml:2:5: a tool needs exactly one of http, command, prompt or mcp (found 2)`},
		{"no kind", "tools:\n  - name: A\n    description: d\n",
			`tools.yaml:2:5: a tool needs exactly one of http, command, prompt or mcp (found 0)`},
		{"no description", "tools:\n  - name: A\n    prompt: {template: x}\n",
			`tools.yaml:2:5: tool A: a description is required`},
		{"bad name", "tools:\n  - name: My Tool\n    description: d\n    prompt: {template: x}\n",
			`tools.yaml:2:5: tool name "My Tool": must be non-empty without spaces or brackets`},
		{"templated program", "tools:\n  - name: A\n    description: d\n    command:\n      argv: ['{{ .Input }}', x]\n",
			`tools.yaml:5:14: tool A: the program (argv[0]) must be fixed, not a template`},
		{"input in a shell script", "tools:\n  - name: A\n    description: d\n    command:\n      argv: [/bin/sh, -c, 'echo {{ .Input }}']\n",
			`tools.yaml:5:27: tool A: argv[2] templates the input into part of an argument`},
		{"input as a shell script", "tools:\n  - name: A\n    description: d\n    command:\n      argv: [bash, -e, -uc, '{{ .Input }}']\n",
			`tools.yaml:5:29: tool A: argv[3] is the input right after "-uc", which may be an option`},
		{"input in a shell's standard input", "tools:\n  - name: A\n    description: d\n    command:\n      argv: [sh]\n      stdin: 'echo {{ .Input }}'\n",
			`tools.yaml:6:14: tool A: stdin templates the input into text`},
		{"unsafe_template for nothing", "tools:\n  - name: A\n    description: d\n    command:\n      argv: [cat]\n      stdin: '{{ .Input }}'\n      unsafe_template: true\n",
			`tools.yaml:5:7: tool A: unsafe_template is set but no template needs it`},
		{"bad input_env", "tools:\n  - name: A\n    description: d\n    command:\n      argv: [cat]\n      input_env: 'A B'\n",
			`tools.yaml:5:7: tool A: input_env "A B" is not an environment variable name`},
		{"input_env passed through too", "tools:\n  - name: A\n    description: d\n    command:\n      argv: [cat]\n      input_env: Q\n      env: [Q]\n",
			`tools.yaml:5:7: tool A: input_env Q is also in env`},
		{"mcp with a name", "tools:\n  - name: A\n    mcp: {command: [x]}\n",
			`tools.yaml:2:5: an mcp entry takes its tools' names and descriptions from the server`},
		{"bad method", "tools:\n  - name: A\n    description: d\n    http:\n      url: http://x/\n      method: FETCH\n",
			`tools.yaml:6:15: tool A: unknown HTTP method "FETCH"`},
		{"two extractions", "tools:\n  - name: A\n    description: d\n    http:\n      url: http://x/\n      extract: {json: a, css: b}\n",
			`tools.yaml:6:16: tool A: extract needs exactly one of json or css`},
		{"bad selector", "tools:\n  - name: A\n    description: d\n    http:\n      url: http://x/\n      extract: {css: 'div[['}\n",
			`tools.yaml:6:22: tool A: css selector "div[["`},
		{"template not a string", "tools:\n  - name: A\n    description: d\n    prompt:\n      template: [a, b]\n",
			`tools.yaml:5:17: tools[0].prompt.template: a template must be a string (tool A is disabled)`},
		{"wrong type", "tools:\n  - name: A\n    description: d\n    command: {argv: [ls], timeout: soon}\n",
			`tools.yaml:4:36: tools[0].command.timeout: expected a duration (such as 10s or 1m30s), got "soon" (tool A is disabled)`},
		{"wrong type of a number", "tools:\n  - name: A\n    description: d\n    command:\n      argv: [ls]\n      max_output: lots\n",
			`tools.yaml:6:19: tools[0].command.max_output: expected an integer, got "lots"`},
		{"a list where a mapping goes", "tools:\n  - name: A\n    description: d\n    http: [x]\n",
			`tools.yaml:4:11: tools[0].http: expected a mapping, got a list`},
		{"an empty entry", "tools:\n  -\n  - name: B\n",
			`tools.yaml:2:4: empty tool entry (tools[0] is disabled)`},
		{"a name twice", "tools:\n  - name: A\n    description: d\n    prompt: {template: x}\n  - name: A\n    description: e\n    prompt: {template: y}\n",
			`tools.yaml:5:5: tool A is already defined at line 2 (this A is disabled)`},
		{"mcp server missing", "tools:\n  - mcp: {command: [/nonexistent/mcp-server]}\n",
			`tools.yaml:2:10: mcp server /nonexistent/mcp-server: exec: "/nonexistent/mcp-server": stat /nonexistent/mcp-server: no such file or directory (mcp server /nonexistent/mcp-server is disabled)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := problems(t, tt.yaml)
			if !strings.Contains(got, tt.want) {
				t.Errorf("problems:\n%s\nwant them to contain\n%s", got, tt.want)
			}
		})
	}
}

// loadStrict loads y as Load did before a broken tool only disabled itself:
// the file's error, or its warnings joined, or nil.
func loadStrict(ctx context.Context, file string, y []byte, o Options) (*Set, error) {
	set, err := Load(ctx, file, y, o)
	if err != nil {
		return nil, err
	}
	if len(set.Warnings) > 0 {
		set.Close()
		return nil, errors.Join(set.Warnings...)
	}
	return set, nil
}

// problems loads y and returns its error or, when it loads, its warnings, one a
// line; the tools that did load are checked to be none of the disabled ones.
func problems(t *testing.T, y string) string {
	t.Helper()
	if _, err := loadStrict(context.Background(), "tools.yaml", []byte(y), Options{Environ: []string{}}); err == nil {
		t.Fatal("loaded without a warning")
	}
	set, err := Load(context.Background(), "tools.yaml", []byte(y), Options{Environ: []string{}})
	if err != nil {
		return err.Error()
	}
	defer set.Close()
	if len(set.Warnings) == 0 {
		t.Fatal("loaded without a warning")
	}
	var lines []string
	for _, w := range set.Warnings {
		var d *DisabledError
		if errors.As(w, &d) {
			for _, tl := range set.Tools {
				if "tool "+tl.Name() == d.Tool {
					t.Errorf("disabled tool %s is in the set", tl.Name())
				}
			}
		}
		lines = append(lines, w.Error())
	}
	return strings.Join(lines, "\n")
}

// A file that cannot be read as a whole is an error.
func TestLoadFileErrors(t *testing.T) {
	for _, tt := range []struct{ name, yaml, want string }{
		{"syntax", "tools:\n  - name: [unclosed\n", "tools.yaml:"},
		{"typo at the top", "tool:\n  - name: A\n", `tools.yaml:1:1: unknown field "tool" (did you mean "tools"?)`},
		{"tools not a list", "tools: {name: A}\n", `tools.yaml:1:8: tools: expected a list, got a mapping`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(context.Background(), "tools.yaml", []byte(tt.yaml), Options{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

// One broken tool disables only itself, with a warning saying where and why.
func TestOneBrokenToolDisablesOnlyItself(t *testing.T) {
	y := `tools:
  - name: First
    description: d
    prompt: {template: '{{ .Input }}'}
  - name: Broken
    description: d
    command:
      argv: [sh, -c, 'echo {{ .Input }}']
      timeout: 5
  - name: Last
    description: d
    prompt: {template: '{{ .Input }}'}
`
	set, err := Load(context.Background(), "t.yaml", []byte(y), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer set.Close()
	var names []string
	for _, tl := range set.Tools {
		names = append(names, tl.Name())
	}
	if strings.Join(names, " ") != "First Last" {
		t.Errorf("tools = %v, want First Last", names)
	}
	want := `t.yaml:9:16: tools[1].command.timeout: expected a duration (such as 10s or 1m30s), got "5" (tool Broken is disabled)`
	if len(set.Warnings) != 1 || set.Warnings[0].Error() != want {
		t.Errorf("warnings = %v, want\n%s", set.Warnings, want)
	}
	var d *DisabledError
	var pos *yamlpos.Error
	if !errors.As(set.Warnings[0], &d) || d.Tool != "tool Broken" || !errors.As(set.Warnings[0], &pos) || pos.Line != 9 {
		t.Errorf("warning = %#v", set.Warnings[0])
	}
}

func TestLoadReportsEveryBadTool(t *testing.T) {
	y := "tools:\n  - name: A\n    prompt: {template: x}\n  - name: B\n    description: d\n    prompt: {template: '{{'}\n"
	got := problems(t, y)
	if !strings.Contains(got, "tools.yaml:2:5") || !strings.Contains(got, "tools.yaml:6:24") {
		t.Errorf("problems = %v, want both tools' errors", got)
	}
}

// The example loads as shipped, every tool of it; its MCP entry, commented out
// since it names a placeholder server, decodes once uncommented and fails only
// at starting the server.
func TestExampleFile(t *testing.T) {
	set, err := Load(context.Background(), "tools.example.yaml", configs.ToolsExampleYAML, Options{Environ: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	defer set.Close()
	var names []string
	for _, tl := range set.Tools {
		names = append(names, tl.Name())
	}
	if strings.Join(names, " ") != "Wikipedia Forecast NotesGrep NotesShell Summarize" || len(set.Warnings) > 0 {
		t.Errorf("tools %v, warnings %v", names, set.Warnings)
	}
	i := strings.Index(string(configs.ToolsExampleYAML), "  # - mcp:")
	if i < 0 {
		t.Fatal("the example has no commented mcp entry")
	}
	var b strings.Builder
	b.WriteString("tools:\n")
	for _, line := range strings.Split(string(configs.ToolsExampleYAML[i:]), "\n") {
		b.WriteString(strings.Replace(line, "# ", "", 1) + "\n")
	}
	mcp, err := Load(context.Background(), "mcp.yaml", []byte(b.String()), Options{Environ: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	if len(mcp.Warnings) != 1 || !strings.Contains(mcp.Warnings[0].Error(), `mcp server my-mcp-server --stdio: exec: "my-mcp-server": executable file not found`) {
		t.Errorf("the uncommented mcp entry: %v", mcp.Warnings)
	}
}

func TestLoadFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "tools.yaml")
	os.WriteFile(p, []byte("tools:\n  - name: Echo\n    description: Echoes.\n    prompt: {template: '{{ .Input }}'}\n"), 0o644)
	set, err := LoadFile(context.Background(), p, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer set.Close()
	if len(set.Tools) != 1 || set.Tools[0].Name() != "Echo" || set.Tools[0].Description() != "Echoes." {
		t.Errorf("tools = %v", set.Tools)
	}
	if _, err := LoadFile(context.Background(), p+".missing", Options{}); err == nil {
		t.Error("missing file loaded")
	}
	if set, err := Load(context.Background(), "empty.yaml", nil, Options{}); err != nil || len(set.Tools) != 0 {
		t.Errorf("empty file: %v %v", set, err)
	}
}

func FuzzLoad(f *testing.F) {
	f.Add(string(configs.ToolsExampleYAML))
	f.Add("tools:\n  - name: A\n    description: d\n    prompt: {template: '{{ .Input }}'}\n")
	f.Add("tools:\n  - name: A\n    description: d\n    http: {url: 'http://x/{{ .Input | urlquery }}', extract: {css: a, attr: href}}\n")
	f.Fuzz(func(t *testing.T, y string) {
		if strings.Contains(y, "mcp") {
			return // starting programs is not for fuzzing
		}
		set, err := Load(context.Background(), "f.yaml", []byte(y), Options{Environ: []string{}})
		if err != nil {
			if !strings.HasPrefix(err.Error(), "f.yaml") {
				t.Fatalf("error %q does not name the file", err)
			}
			return
		}
		defer set.Close()
		for _, w := range set.Warnings {
			if !strings.HasPrefix(w.Error(), "f.yaml") {
				t.Fatalf("warning %q does not name the file", w)
			}
		}
	})
}
