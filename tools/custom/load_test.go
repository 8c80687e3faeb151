package custom

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rewoo-agent/agent/configs"
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
			`tools.yaml:5: a template must be a string`},
		{"wrong type", "tools:\n  - name: A\n    description: d\n    command: {argv: [ls], timeout: soon}\n",
			"tools.yaml:4: cannot unmarshal !!str `soon` into time.Duration"},
		{"mcp server missing", "tools:\n  - mcp: {command: [/nonexistent/mcp-server]}\n",
			`tools.yaml:2:10: mcp server /nonexistent/mcp-server: exec: "/nonexistent/mcp-server": stat /nonexistent/mcp-server: no such file or directory`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(context.Background(), "tools.yaml", []byte(tt.yaml), Options{Environ: []string{}})
			if err == nil {
				t.Fatal("Load succeeded")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error:\n%v\nwant it to contain\n%s", err, tt.want)
			}
		})
	}
}

func TestLoadReportsEveryBadTool(t *testing.T) {
	y := "tools:\n  - name: A\n    prompt: {template: x}\n  - name: B\n    description: d\n    prompt: {template: '{{'}\n"
	_, err := Load(context.Background(), "t.yaml", []byte(y), Options{})
	if err == nil || !strings.Contains(err.Error(), "t.yaml:2:5") || !strings.Contains(err.Error(), "t.yaml:6:24") {
		t.Errorf("err = %v, want both tools' errors", err)
	}
}

func TestExampleFile(t *testing.T) {
	// Every tool of the example loads except the MCP server, which is a placeholder.
	_, err := Load(context.Background(), "tools.example.yaml", configs.ToolsExampleYAML, Options{Environ: []string{}})
	if err == nil {
		t.Fatal("the example's placeholder MCP server started")
	}
	msgs := strings.Split(err.Error(), "\n")
	if len(msgs) != 1 || !strings.Contains(msgs[0], "mcp server my-mcp-server") {
		t.Errorf("errors other than the placeholder server:\n%v", err)
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
		if err == nil {
			set.Close()
			return
		}
		if !strings.HasPrefix(err.Error(), "f.yaml") {
			t.Fatalf("error %q does not name the file", err)
		}
	})
}
