package custom

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/rewoo-agent/agent/engine"
	"github.com/rewoo-agent/agent/engine/chat"
	"github.com/rewoo-agent/agent/tools"
	"github.com/rewoo-agent/agent/tools/fetch"
)

// load loads y and returns its tools by name; the set closes with the test.
func load(t *testing.T, y string, o Options) map[string]tools.Tool {
	t.Helper()
	set, err := Load(context.Background(), "tools.yaml", []byte(y), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { set.Close() })
	m := map[string]tools.Tool{}
	for _, tl := range set.Tools {
		m[tl.Name()] = tl
	}
	return m
}

func call(t *testing.T, tl tools.Tool, input string) (tools.Output, error) {
	t.Helper()
	return tl.Call(context.Background(), tools.Request{Input: input, Raw: input})
}

func TestCommandTool(t *testing.T) {
	env := []string{helperEnv, "LANG=C.UTF-8", "SECRET_TOKEN=hunter2"}
	hostile := `$(touch pwned); rm -rf ~ ; echo "hi" | cat > out && ` + "`id`" + ` * ? [a] {b} 'q' \n $HOME`
	y := fmt.Sprintf(`tools:
  - name: Args
    description: Prints its arguments.
    command:
      argv: [%[1]s, args, "--query={{ .Input }}", --, "{{ .Input }}", literal]
      unsafe_template: true
      env: [AGENT_CUSTOM_HELPER]
  - name: Env
    description: Prints its environment.
    command:
      argv: [%[1]s, env]
      env: [AGENT_CUSTOM_HELPER, LANG, NOT_SET]
  - name: Upper
    description: Upper-cases its input.
    command:
      argv: [%[1]s, stdin]
      stdin: "{{ .Input }}"
      env: [AGENT_CUSTOM_HELPER]
  - name: Exit3
    description: Exits with 3.
    command:
      argv: [%[1]s, exit, "3"]
      env: [AGENT_CUSTOM_HELPER]
  - name: Exit1OK
    description: Exits with 1, which it may.
    command:
      argv: [%[1]s, exit, "1"]
      env: [AGENT_CUSTOM_HELPER]
      exit_codes: [0, 1]
  - name: Flood
    description: Writes a megabyte.
    command:
      argv: [%[1]s, flood]
      env: [AGENT_CUSTOM_HELPER]
      max_output: 1000
`, exe(t))
	ts := load(t, y, Options{Environ: env})
	dir := t.TempDir()
	wd, _ := os.Getwd()
	os.Chdir(dir)
	defer os.Chdir(wd)

	t.Run("shell metacharacters are literal", func(t *testing.T) {
		out, err := call(t, ts["Args"], hostile)
		if err != nil {
			t.Fatal(err)
		}
		var args []string
		if err := json.Unmarshal([]byte(out.Text), &args); err != nil {
			t.Fatalf("%v: %q", err, out.Text)
		}
		want := []string{"--query=" + hostile, "--", hostile, "literal"}
		if fmt.Sprint(args) != fmt.Sprint(want) {
			t.Errorf("args = %q, want %q", args, want)
		}
		if _, err := os.Stat(filepath.Join(dir, "pwned")); err == nil {
			t.Error("a shell ran the input")
		}
	})
	t.Run("environment allow-list", func(t *testing.T) {
		out, err := call(t, ts["Env"], "")
		if err != nil {
			t.Fatal(err)
		}
		if out.Text != `["AGENT_CUSTOM_HELPER=1","LANG=C.UTF-8"]` {
			t.Errorf("env = %s", out.Text)
		}
	})
	t.Run("stdin", func(t *testing.T) {
		if out, err := call(t, ts["Upper"], "quiet; words"); err != nil || out.Text != "QUIET; WORDS" {
			t.Errorf("out = %q, %v", out.Text, err)
		}
	})
	t.Run("exit codes", func(t *testing.T) {
		_, err := call(t, ts["Exit3"], "")
		if err == nil || !strings.Contains(err.Error(), "Exit3: exit status 3: something went wrong") {
			t.Errorf("err = %v", err)
		}
		if out, err := call(t, ts["Exit1OK"], ""); err != nil || out.Text != "partial output" {
			t.Errorf("accepted exit 1: %q, %v", out.Text, err)
		}
	})
	t.Run("output cap", func(t *testing.T) {
		out, err := call(t, ts["Flood"], "")
		if err != nil {
			t.Fatal(err)
		}
		if want := strings.Repeat("x", 1000) + "\n[... 1047576 more bytes of output dropped]"; out.Text != want {
			t.Errorf("out = %d bytes ending %q", len(out.Text), out.Text[len(out.Text)-50:])
		}
	})
}

// A shell may run a fixed script that takes the input as a positional parameter:
// the input stays data, whatever it holds.
func TestCommandShellWithPositionalInput(t *testing.T) {
	y := `tools:
  - name: Quote
    description: Prints its input through a fixed shell script.
    command:
      argv: [sh, -c, 'printf "%s" "$1"', sh, '{{ .Input }}']
`
	hostile := `$(echo pwned); echo pwned; ` + "`echo pwned`" + ` "'`
	out, err := call(t, load(t, y, Options{Environ: []string{}})["Quote"], hostile)
	if err != nil {
		t.Fatal(err)
	}
	if out.Text != strings.TrimSpace(hostile) {
		t.Errorf("out = %q, want the input literally", out.Text)
	}
}

func TestCommandNeverExits(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "child.pid")
	y := fmt.Sprintf(`tools:
  - name: Hang
    description: Never exits.
    command:
      argv: [%s, hang, %q]
      env: [AGENT_CUSTOM_HELPER]
      timeout: 500ms
`, exe(t), pidFile)
	ts := load(t, y, Options{Environ: []string{helperEnv}})
	start := time.Now()
	_, err := call(t, ts["Hang"], "")
	if err == nil || !strings.Contains(err.Error(), "killed after the 500ms timeout") {
		t.Fatalf("err = %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %s to kill", d)
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := strconv.Atoi(string(b))
	// The grandchild is killed with its group; once reaped it is gone.
	deadline := time.Now().Add(5 * time.Second)
	for alive(pid) {
		if time.Now().After(deadline) {
			syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("child %d survived the timeout", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// alive reports whether pid runs (a zombie waiting to be reaped does not).
func alive(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	_, after, _ := strings.Cut(string(stat), ") ")
	return !strings.HasPrefix(after, "Z")
}

func TestHTTPTool(t *testing.T) {
	var got http.Header
	var gotBody string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Clone()
		b := make([]byte, 1024)
		n, _ := r.Body.Read(b)
		gotBody = string(b[:n])
		switch r.URL.Path {
		case "/json":
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"query": %q, "days": [{"summary": "Sunny"}, {"summary": "Rain"}], "key": %q}`, r.URL.Query().Get("q"), r.URL.Query().Get("key"))
		case "/html":
			w.Header().Set("Content-Type", "text/html")
			fmt.Fprint(w, `<html><body><ul><li class="r"><a href="https://a.example/">First</a></li><li class="r"><a href="https://b.example/">Second  one</a></li></ul></body></html>`)
		case "/away":
			http.Redirect(w, r, "http://localhost:"+strings.Split(r.Host, ":")[1]+"/json", http.StatusFound)
		case "/teapot":
			http.Error(w, "no", http.StatusTeapot)
		}
	}))
	defer srv.Close()
	y := fmt.Sprintf(`tools:
  - name: Forecast
    description: Forecast for a city.
    http:
      url: '%[1]s/json?q={{ .Input | urlquery }}&key={{ env "API_KEY" | urlquery }}'
      method: post
      headers:
        Authorization: 'Bearer {{ env "API_KEY" }}'
        Content-Type: application/json
      body: '{"city": {{ json .Input }}}'
      secrets: [API_KEY]
      extract: {json: "days.#.summary"}
      allowed_hosts: [127.0.0.1]
  - name: Query
    description: Echoes the query.
    http:
      url: "%[1]s/json?q={{ .Input | urlquery }}"
      extract: {json: query}
  - name: Titles
    description: Lists titles.
    http:
      url: "%[1]s/html"
      extract: {css: li.r a}
  - name: Links
    description: Lists links.
    http:
      url: "%[1]s/html"
      extract: {css: li.r a, attr: href}
  - name: Page
    description: Reads a page.
    http:
      url: "%[1]s/{{ .Input }}"
      allowed_hosts: [127.0.0.1]
  - name: NoMatch
    description: Extracts nothing.
    http:
      url: "%[1]s/json"
      extract: {json: nothing.here}
`, srv.URL)
	ts := load(t, y, Options{Environ: []string{"API_KEY=s3cr3t k"}, AllowPrivateNetworks: true})

	t.Run("json extraction, body, headers, secrets", func(t *testing.T) {
		out, err := call(t, ts["Forecast"], `Zürich "city"`)
		if err != nil {
			t.Fatal(err)
		}
		if out.Text != "Sunny\nRain" {
			t.Errorf("text = %q", out.Text)
		}
		if got.Get("Authorization") != "Bearer s3cr3t k" || gotBody != `{"city": "Zürich \"city\""}` {
			t.Errorf("request: auth %q body %q", got.Get("Authorization"), gotBody)
		}
		if len(out.Sources) != 1 || strings.Contains(out.Sources[0], "s3cr3t") || !strings.Contains(out.Sources[0], "key=REDACTED") {
			t.Errorf("sources = %q", out.Sources)
		}
	})
	t.Run("query escaping", func(t *testing.T) {
		out, err := call(t, ts["Query"], "a&b=c d")
		if err != nil || out.Text != "a&b=c d" {
			t.Errorf("out = %q, %v", out.Text, err)
		}
	})
	t.Run("css text and attributes", func(t *testing.T) {
		if out, err := call(t, ts["Titles"], ""); err != nil || out.Text != "First\nSecond one" {
			t.Errorf("titles = %q, %v", out.Text, err)
		}
		if out, err := call(t, ts["Links"], ""); err != nil || out.Text != "https://a.example/\nhttps://b.example/" {
			t.Errorf("links = %q, %v", out.Text, err)
		}
	})
	t.Run("errors", func(t *testing.T) {
		tests := []struct {
			tool, input, want string
		}{
			{"Page", "away", `redirected: host "localhost" is not in allowed_hosts`},
			{"Page", "teapot", "HTTP error status 418"},
			{"NoMatch", "", `json path "nothing.here" matched nothing`},
		}
		for _, tt := range tests {
			_, err := call(t, ts[tt.tool], tt.input)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("%s[%s]: err = %v, want %q", tt.tool, tt.input, err, tt.want)
			}
		}
	})
	t.Run("secret unset", func(t *testing.T) {
		ts := load(t, y, Options{Environ: []string{}, AllowPrivateNetworks: true})
		if _, err := call(t, ts["Forecast"], "x"); err == nil || !strings.Contains(err.Error(), "secret API_KEY is not set") {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("private networks refused unless allowed", func(t *testing.T) {
		ts := load(t, y, Options{Environ: []string{}})
		if _, err := call(t, ts["Query"], "x"); !errors.Is(err, fetch.ErrForbiddenAddress) {
			t.Errorf("err = %v, want ErrForbiddenAddress", err)
		}
	})
}

// A redirect out of allowed_hosts is refused before it is followed: the tool's
// headers, secrets among them, never reach the other host.
func TestHTTPToolRedirectKeepsSecretsInAllowedHosts(t *testing.T) {
	var leaked atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.Host, "localhost:") {
			leaked.Store(r.Header.Get("X-Api-Key"))
			fmt.Fprint(w, "other host")
			return
		}
		http.Redirect(w, r, "http://localhost:"+strings.Split(r.Host, ":")[1]+"/collect", http.StatusFound)
	}))
	defer srv.Close()
	y := fmt.Sprintf(`tools:
  - name: Api
    description: Calls the API.
    http:
      url: "%s/start"
      headers:
        X-Api-Key: '{{ env "API_KEY" }}'
      secrets: [API_KEY]
      allowed_hosts: [127.0.0.1]
`, srv.URL)
	ts := load(t, y, Options{Environ: []string{"API_KEY=s3cr3t"}, AllowPrivateNetworks: true})
	_, err := call(t, ts["Api"], "")
	if err == nil || !strings.Contains(err.Error(), `redirected: host "localhost" is not in allowed_hosts`) {
		t.Errorf("err = %v, want a refused redirect", err)
	}
	if v := leaked.Load(); v != nil {
		t.Errorf("the redirect was followed: the other host got X-Api-Key %q", v)
	}
}

// A redirect to another allowed host is followed, but the headers holding
// secrets stay behind, as net/http does with Authorization.
func TestHTTPToolRedirectDropsSecretHeaders(t *testing.T) {
	var got http.Header
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.Host, "localhost:") {
			got = r.Header.Clone()
			fmt.Fprint(w, "other host")
			return
		}
		http.Redirect(w, r, "http://localhost:"+strings.Split(r.Host, ":")[1]+"/collect", http.StatusFound)
	}))
	defer srv.Close()
	y := fmt.Sprintf(`tools:
  - name: Api
    description: Calls the API.
    http:
      url: "%s/start"
      headers:
        X-Api-Key: '{{ env "API_KEY" }}'
        Accept: text/plain
      secrets: [API_KEY]
      allowed_hosts: [127.0.0.1, localhost]
`, srv.URL)
	ts := load(t, y, Options{Environ: []string{"API_KEY=s3cr3t"}, AllowPrivateNetworks: true})
	out, err := call(t, ts["Api"], "")
	if err != nil || out.Text != "other host" {
		t.Fatalf("out = %q, %v", out.Text, err)
	}
	if v := got.Get("X-Api-Key"); v != "" {
		t.Errorf("the other host got X-Api-Key %q", v)
	}
	if v := got.Get("Accept"); v != "text/plain" {
		t.Errorf("the other host got Accept %q, want the header without a secret kept", v)
	}
}

func TestHTTPToolHostAllowList(t *testing.T) {
	y := `tools:
  - name: Get
    description: Gets the URL in its input.
    http:
      url: "{{ .Input }}"
      allowed_hosts: [api.example.com, "*.example.org"]
`
	tl := load(t, y, Options{})["Get"].(*httpTool)
	for in, ok := range map[string]bool{
		"https://api.example.com/x":  true,
		"https://a.b.example.org/":   true,
		"https://example.org.evil/":  false,
		"https://api.example.com.x/": false,
		"ftp://api.example.com/":     false,
		"http://169.254.169.254/":    false,
	} {
		u, _ := parseURL(in)
		if err := tl.checkHost(u); (err == nil) != ok {
			t.Errorf("%s: err = %v, want allowed %v", in, err, ok)
		}
	}
}

type fakeLLM struct{ got engine.Request }

func (f *fakeLLM) Generate(_ context.Context, req engine.Request, _ func(string) error) (engine.Result, error) {
	f.got = req
	return engine.Result{Text: " three sentences. "}, nil
}

func TestPromptTool(t *testing.T) {
	y := `tools:
  - name: Summarize
    description: Summarizes.
    prompt:
      template: "Summarize {{ range .Cited }}[{{ .Name }} from {{ .Tool }}] {{ end }}: {{ .Input }}"
      max_tokens: 64
  - name: Raw
    description: Completes.
    prompt:
      template: "Q: {{ .Input }}\nA:"
      chat: false
      stop: ["\nQ:"]
`
	llm := &fakeLLM{}
	ts := load(t, y, Options{LLM: llm})
	req := tools.Request{Input: "the text", Cited: []tools.Cited{{Name: "#E1", Tool: "TextScraper", Sources: []string{"https://a.example/"}}}}
	out, err := ts["Summarize"].Call(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if out.Text != "three sentences." || fmt.Sprint(out.Sources) != "[https://a.example/]" {
		t.Errorf("out = %+v", out)
	}
	if want := chat.Airoboros.Prompt("Summarize [#E1 from TextScraper] : the text"); llm.got.Prompt != want || llm.got.MaxTokens != 64 {
		t.Errorf("request = %+v", llm.got)
	}
	if _, err := call(t, ts["Raw"], "2+2"); err != nil {
		t.Fatal(err)
	}
	if llm.got.Prompt != "Q: 2+2\nA:" || fmt.Sprint(llm.got.Stop) != "[\nQ:]" {
		t.Errorf("raw request = %+v", llm.got)
	}
	noLLM := load(t, y, Options{})
	if _, err := call(t, noLLM["Raw"], "x"); !errors.Is(err, chat.ErrNoLLM) {
		t.Errorf("no LLM: err = %v", err)
	}
}

func TestMCPTools(t *testing.T) {
	y := fmt.Sprintf(`tools:
  - mcp:
      command: [%s, mcp]
      env: [AGENT_CUSTOM_HELPER]
      prefix: Dict
      timeout: 20s
`, exe(t))
	ts := load(t, y, Options{Environ: []string{helperEnv}})
	if len(ts) != 4 || ts["Dictdefine"] == nil || ts["Dictadd"] == nil || ts["Dictfail"] == nil {
		t.Fatalf("tools = %v", ts)
	}
	if d := ts["Dictdefine"].Description(); d != "Defines a word." {
		t.Errorf("description = %q", d)
	}
	tests := []struct {
		tool, input, want, err string
	}{
		{"Dictdefine", "serendipity", "definition of serendipity", ""},
		{"Dictdefine", `{"word": "json"}`, "definition of json", ""},
		{"Dictadd", `{"a": 2, "b": 40}`, "42", ""},
		{"Dictadd", "2 plus 40", "", "takes a, b: give them as a JSON object"},
		{"Dictfail", "zzz", "", "no such word: zzz"},
	}
	for _, tt := range tests {
		t.Run(tt.tool+" "+tt.input, func(t *testing.T) {
			out, err := call(t, ts[tt.tool], tt.input)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil || out.Text != tt.want {
				t.Errorf("out = %q, %v; want %q", out.Text, err, tt.want)
			}
		})
	}

	t.Run("output cap", func(t *testing.T) {
		y := fmt.Sprintf("tools:\n  - mcp:\n      command: [%s, mcp]\n      env: [AGENT_CUSTOM_HELPER]\n      tools: [define]\n      max_chars: 40\n", exe(t))
		out, err := call(t, load(t, y, Options{Environ: []string{helperEnv}})["define"], strings.Repeat("word ", 100))
		if err != nil || out.Text != "definition of word word word word word [...]" {
			t.Errorf("out = %q, %v", out.Text, err)
		}
	})
	t.Run("allow list", func(t *testing.T) {
		y := fmt.Sprintf("tools:\n  - mcp:\n      command: [%s, mcp]\n      env: [AGENT_CUSTOM_HELPER]\n      tools: [add]\n", exe(t))
		ts := load(t, y, Options{Environ: []string{helperEnv}})
		if len(ts) != 1 || ts["add"] == nil {
			t.Errorf("tools = %v", ts)
		}
		y = fmt.Sprintf("tools:\n  - mcp:\n      command: [%s, mcp]\n      env: [AGENT_CUSTOM_HELPER]\n      tools: [subtract]\n", exe(t))
		set, err := Load(context.Background(), "tools.yaml", []byte(y), Options{Environ: []string{helperEnv}})
		if err != nil {
			t.Fatal(err)
		}
		defer set.Close()
		if len(set.Tools) != 0 || len(set.Warnings) != 1 || !strings.Contains(set.Warnings[0].Error(), `has no tool "subtract" (it has `) {
			t.Errorf("tools %v, warnings %v", set.Tools, set.Warnings)
		}
	})
}
