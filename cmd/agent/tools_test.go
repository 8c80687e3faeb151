package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestToolsHelperProcess is not a test: the command tools of these tests run the
// test binary with AGENT_TOOLS_HELPER=1, and it counts the words on stdin.
func TestToolsHelperProcess(t *testing.T) {
	if os.Getenv("AGENT_TOOLS_HELPER") != "1" {
		return
	}
	b, _ := io.ReadAll(os.Stdin)
	fmt.Printf("%d words\n", len(strings.Fields(string(b))))
	os.Exit(0)
}

// webEnv is a local web: a DuckDuckGo endpoint whose results link to local pages,
// the pages, and a forecast API, each recording when it was busy.
type webEnv struct {
	srv   *httptest.Server
	mu    sync.Mutex
	spans map[string][2]time.Time
}

func newWebEnv(t *testing.T, delay time.Duration) *webEnv {
	t.Helper()
	e := &webEnv{spans: map[string][2]time.Time{}}
	e.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		defer func() {
			e.mu.Lock()
			e.spans[r.URL.Path] = [2]time.Time{start, time.Now()}
			e.mu.Unlock()
		}()
		switch r.URL.Path {
		case "/html/":
			time.Sleep(delay)
			r.ParseForm()
			fmt.Fprintf(w, `<html><body><div id="links" class="results">
<div class="result results_links results_links_deep result--ad"><h2 class="result__title"><a class="result__a" href="https://duckduckgo.com/y.js?ad_domain=x">Ad</a></h2></div>
<div class="result results_links results_links_deep web-result"><h2 class="result__title"><a rel="nofollow" class="result__a" href="//duckduckgo.com/l/?uddg=%s&amp;rut=1">Prize page</a></h2><a class="result__snippet">About %s.</a></div>
<div class="result results_links results_links_deep web-result"><h2 class="result__title"><a rel="nofollow" class="result__a" href="%s/page/2">Poet page</a></h2><a class="result__snippet">More.</a></div>
</div></body></html>`, url.QueryEscape(e.srv.URL+"/page/1"), r.PostForm.Get("q"), e.srv.URL)
		case "/page/1":
			fmt.Fprint(w, "<html><head><title>Prize</title></head><body><p>The 2020 prize went to Louise Glück.</p></body></html>")
		case "/page/2":
			fmt.Fprint(w, "<html><head><title>Poet</title></head><body><p>Louise Glück wrote The Wild Iris.</p></body></html>")
		case "/forecast":
			time.Sleep(delay)
			if r.URL.Query().Get("city") == "nowhere" {
				http.NotFound(w, r)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"city": %q, "days": [{"summary": "Sunny"}, {"summary": "Snow"}]}`, r.URL.Query().Get("city"))
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(e.srv.Close)
	t.Setenv("AGENT_DUCKDUCKGO_URL", e.srv.URL+"/html/")
	t.Setenv("AGENT_SEARXNG_URL", "")
	t.Setenv("AGENT_ALLOW_PRIVATE_NETWORKS", "1")
	t.Setenv("AGENT_CONFIG", "")
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	return e
}

func (e *webEnv) span(path string) [2]time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.spans[path]
}

// toolsYAML writes a tools file with an http tool (Forecast) and a command tool
// (WordCount) and returns its path.
func (e *webEnv) toolsYAML(t *testing.T) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	q := func(s string) string { b, _ := json.Marshal(s); return string(b) }
	y := fmt.Sprintf(`tools:
  - name: Forecast
    description: Gives the weather forecast for the city in the input.
    http:
      url: %s
      extract: {json: "days.#.summary"}
  - name: WordCount
    description: Counts the words of the input.
    command:
      argv: [%s, -test.run=^TestToolsHelperProcess$]
      stdin: "{{ .Input }}"
      env: [AGENT_TOOLS_HELPER]
`, q(e.srv.URL+"/forecast?city={{ .Input | urlquery }}"), q(exe))
	p := filepath.Join(t.TempDir(), "tools.yaml")
	if err := os.WriteFile(p, []byte(y), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AGENT_TOOLS_HELPER", "1")
	return p
}

func TestToolsList(t *testing.T) {
	e := newWebEnv(t, 0)
	toolsFile := e.toolsYAML(t)
	out, errOut, code := runAgent(t, "", "tools", "--tools-config", toolsFile)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	want := []string{
		"Calculator[input]: Evaluates arithmetic, comparisons and conditions",
		"DuckDuckGo[input]: Tool that allows the user to search",
		"Forecast[input]: Gives the weather forecast for the city in the input.",
		"HyperlinkExtractor[input]: Extract links",
		"KnowledgeModel[input]: Question answering language model",
		"TextScraper[input]: Load one or more websites",
		"WordCount[input]: Counts the words of the input.",
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != len(want) {
		t.Fatalf("got %d tools:\n%s", len(lines), out)
	}
	for i, w := range want {
		if !strings.HasPrefix(lines[i], w) {
			t.Errorf("line %d = %q, want prefix %q", i, lines[i], w)
		}
	}
	out, _, code = runAgent(t, "", "tools", "--json")
	var list []struct{ Name, Description string }
	if code != 0 || json.Unmarshal([]byte(out), &list) != nil || len(list) != 5 {
		t.Errorf("--json: exit %d, %q", code, out)
	}
}

func TestToolsCall(t *testing.T) {
	e := newWebEnv(t, 0)
	toolsFile := e.toolsYAML(t)
	tests := []struct {
		name   string
		args   []string
		code   int
		out    string
		stderr []string
	}{
		{"built-in", []string{"DuckDuckGo", "nobel", "2020"}, 0,
			"1. Prize page\n   " + e.srv.URL + "/page/1\n   About nobel 2020.\n\n2. Poet page\n   " + e.srv.URL + "/page/2\n   More.\n",
			[]string{"source: " + e.srv.URL + "/page/1\n", "source: " + e.srv.URL + "/page/2\n"}},
		{"scraper", []string{"TextScraper", e.srv.URL + "/page/1"}, 0,
			"URL: " + e.srv.URL + "/page/1\nTitle: Prize\n\nThe 2020 prize went to Louise Glück.\n", []string{"source: " + e.srv.URL + "/page/1"}},
		{"yaml http", []string{"--tools-config", toolsFile, "Forecast", "Stockholm"}, 0, "Sunny\nSnow\n",
			[]string{"source: " + e.srv.URL + "/forecast?city=Stockholm"}},
		{"yaml command", []string{"--tools-config", toolsFile, "WordCount", "one two; three $(four)"}, 0, "4 words\n", nil},
		{"failure", []string{"TextScraper", e.srv.URL + "/missing"}, 1, "", []string{"TextScraper: fetch " + e.srv.URL + "/missing: HTTP error status 404 Not Found"}},
		{"no model", []string{"KnowledgeModel", "why?"}, 1, "", []string{"KnowledgeModel: no language model configured"}},
		{"yaml failure", []string{"--tools-config", toolsFile, "Forecast", "nowhere"}, 1, "", []string{"Forecast: fetch " + e.srv.URL + "/forecast?city=nowhere: HTTP error status 404 Not Found"}},
		{"unknown tool", []string{"Nope", "x"}, 1, "", []string{`unknown tool "Nope" (agent tools lists them)`}},
		{"no input", []string{"DuckDuckGo"}, 2, "", []string{"need a tool name and its input"}},
		{"bad tools file", []string{"--tools-config", "/nonexistent/tools.yaml", "DuckDuckGo", "x"}, 1, "", []string{"tools file: open /nonexistent/tools.yaml"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errOut, code := runAgent(t, "", append([]string{"tools", "call"}, tt.args...)...)
			if code != tt.code {
				t.Errorf("exit %d, want %d (stderr %q)", code, tt.code, errOut)
			}
			if out != tt.out {
				t.Errorf("stdout = %q, want %q", out, tt.out)
			}
			for _, w := range tt.stderr {
				if !strings.Contains(errOut, w) {
					t.Errorf("stderr lacks %q:\n%s", w, errOut)
				}
			}
			for _, a := range tt.args {
				if strings.Contains(errOut, a+": "+a+":") {
					t.Errorf("stderr names %s twice:\n%s", a, errOut)
				}
			}
		})
	}
}

func TestToolsCallRefusesPrivateNetworks(t *testing.T) {
	e := newWebEnv(t, 0)
	t.Setenv("AGENT_ALLOW_PRIVATE_NETWORKS", "0")
	_, errOut, code := runAgent(t, "", "tools", "call", "TextScraper", e.srv.URL+"/page/1")
	if code != 1 || !strings.Contains(errOut, "is a loopback address") {
		t.Errorf("exit %d, stderr %q", code, errOut)
	}
}

func TestConfigCommand(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "config.yaml")
	os.WriteFile(file, []byte("search:\n  region: de-de\n"), 0o644)
	t.Setenv("AGENT_SEARXNG_URL", "http://searx.example")
	t.Setenv("AGENT_ALLOW_PRIVATE_NETWORKS", "")
	out, errOut, code := runAgent(t, "", "config", "--config", file, "--set", "fetch.max_urls=2")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{
		"# config file: " + file + "\n",
		"search.region ", "de-de", "# file " + file + ":2\n",
		"search.searxng_url ", "http://searx.example", "# env AGENT_SEARXNG_URL\n",
		"fetch.max_urls ", "# flag --set fetch.max_urls\n",
		"search.duckduckgo_url ", "https://html.duckduckgo.com/html/", "# default\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	out, _, code = runAgent(t, "", "config", "--json", "--config", file)
	var doc struct {
		File   string
		Values []struct{ Key, Value, Source, Env string }
	}
	if code != 0 || json.Unmarshal([]byte(out), &doc) != nil || doc.File != file || len(doc.Values) < 20 {
		t.Errorf("--json: exit %d, %q", code, out)
	}

	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("fetch:\n  timeot: 3s\n"), 0o644)
	_, errOut, code = runAgent(t, "", "config", "--config", bad)
	if code != 2 || !strings.Contains(errOut, bad+`:2:3: unknown field "timeot" in fetch (did you mean "timeout"?)`) {
		t.Errorf("bad file: exit %d, stderr %q", code, errOut)
	}
	_, errOut, code = runAgent(t, "", "config", "--set", "nope")
	if code != 2 || !strings.Contains(errOut, "want KEY=VALUE") {
		t.Errorf("bad --set: exit %d, stderr %q", code, errOut)
	}
}

// TestRunMixedToolsEndToEnd runs a plan of built-in and YAML tools against local
// servers: the two independent first steps overlap in time, and the answer is the
// last step's output.
func TestRunMixedToolsEndToEnd(t *testing.T) {
	const delay = 300 * time.Millisecond
	e := newWebEnv(t, delay)
	toolsFile := e.toolsYAML(t)
	plan := `Plan: Search the web for the winner.
:evidence0: = DuckDuckGo[Nobel Prize in Literature 2020 winner]
Plan: Meanwhile, get the forecast with the custom http tool.
:evidence1: = Forecast[Stockholm]
Plan: Pick the links out of the results.
:evidence2: = HyperlinkExtractor[:evidence0:]
Plan: Read the pages.
:evidence3: = TextScraper[:evidence2:]
Plan: Count the words with the custom command tool.
:evidence4: = WordCount[:evidence3:]
Answer: :evidence4: (:evidence1:)
`
	start := time.Now()
	out, errOut, code := runAgent(t, "", "run", "--tools-config", toolsFile, writePlan(t, plan))
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, errOut)
	}
	if out != "21 words (Sunny\nSnow)\n" {
		t.Errorf("answer = %q\nstderr:\n%s", out, errOut)
	}
	search, forecast := e.span("/html/"), e.span("/forecast")
	if !(search[0].Before(forecast[1]) && forecast[0].Before(search[1])) {
		t.Errorf("independent steps ran one after the other: search %v-%v, forecast %v-%v",
			search[0].Sub(start), search[1].Sub(start), forecast[0].Sub(start), forecast[1].Sub(start))
	}
	if p1, p2 := e.span("/page/1"), e.span("/page/2"); p1[0].IsZero() || p2[0].IsZero() {
		t.Error("the pages were not read")
	}
	for _, want := range []string{":evidence1: Forecast started", ":evidence4: finished", "done: 5 ok"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
}
