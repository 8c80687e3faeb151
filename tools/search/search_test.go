package search

import (
	"context"
	"errors"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
	"unicode/utf8"

	"github.com/rewoo-agent/agent/tools"
	"github.com/rewoo-agent/agent/tools/fetch"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func readFile(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseDuckDuckGo(t *testing.T) {
	got, err := ParseDuckDuckGo(strings.NewReader(string(readFile(t, "duckduckgo.html"))))
	if err != nil {
		t.Fatal(err)
	}
	want := []Result{
		{"The Nobel Prize in Literature 2020 - NobelPrize.org", "https://www.nobelprize.org/prizes/literature/2020/summary/",
			`The Nobel Prize in Literature 2020 was awarded to Louise Glück "for her unmistakable poetic voice that with austere beauty makes individual existence universal."`},
		{"Louise Glück - Wikipedia", "https://en.wikipedia.org/wiki/Louise_Gl%C3%BCck",
			`Louise Elisabeth Glück (April 22, 1943 – October 13, 2023) was an American poet and essayist. She won the 2020 Nobel Prize in Literature, whose judges praised "her unmistakable poetic voice".`},
		{"Louise Glück wins 2020 Nobel prize in literature | The Guardian", "https://www.theguardian.com/books/2020/oct/08/louise-gluck-wins-nobel-prize-in-literature",
			`The American poet Louise Glück has won the Nobel prize in literature for "her unmistakable poetic voice".`},
		{"Louise Glück Is Awarded Nobel Prize in Literature - The New York Times", "https://www.nytimes.com/2020/10/08/books/nobel-prize-literature-louise-gluck.html?smid=url-share", ""},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("results:\n%q\nwant\n%q", got, want)
	}

	tests := []struct {
		name, page string
		want       error
		msg        string
	}{
		{"block page", string(readFile(t, "duckduckgo_blocked.html")), ErrBlocked, ""},
		{"no results", string(readFile(t, "duckduckgo_noresults.html")), ErrNoResults, ""},
		{"unknown layout", "<html><body><p>Welcome</p></body></html>", ErrNoResults, "layout changed"},
		{"not html", "\x00\x01binary\xff", ErrNoResults, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseDuckDuckGo(strings.NewReader(tt.page))
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("err = %v, want %v containing %q", err, tt.want, tt.msg)
			}
		})
	}
}

func TestDuckDuckGoTool(t *testing.T) {
	var forms []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.UserAgent() != "agent-test/1" {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		r.ParseForm()
		forms = append(forms, r.PostForm.Encode())
		w.Header().Set("Content-Type", "text/html; charset=UTF-8")
		w.Write(readFile(t, "duckduckgo.html"))
	}))
	defer srv.Close()
	tool := &Tool{Backend: NewDuckDuckGo(DuckDuckGoOptions{URL: srv.URL + "/html/", Region: "wt-wt", UserAgent: "agent-test/1"}), MaxResults: 3}
	out, err := tool.Call(context.Background(), tools.Request{Input: "  Nobel Prize in\nLiterature 2020 winner "})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"kl=wt-wt&q=Nobel+Prize+in+Literature+2020+winner"}; !reflect.DeepEqual(forms, want) {
		t.Errorf("forms posted = %q, want %q", forms, want)
	}
	wantSources := []string{
		"https://www.nobelprize.org/prizes/literature/2020/summary/",
		"https://en.wikipedia.org/wiki/Louise_Gl%C3%BCck",
		"https://www.theguardian.com/books/2020/oct/08/louise-gluck-wins-nobel-prize-in-literature",
	}
	if !reflect.DeepEqual(out.Sources, wantSources) {
		t.Errorf("sources = %q", out.Sources)
	}
	golden := "testdata/duckduckgo.golden"
	if *update {
		os.WriteFile(golden, []byte(out.Text+"\n"), 0o644)
	}
	if want := strings.TrimSuffix(string(readFile(t, "duckduckgo.golden")), "\n"); out.Text != want {
		t.Errorf("text =\n%s\nwant\n%s", out.Text, want)
	}
}

type roundTrip func(*http.Request) (*http.Response, error)

func (f roundTrip) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// fakeDDG answers in memory (so synctest's clock can run) with status and page.
func fakeDDG(requests *atomic.Int32, status *atomic.Int32, page func() []byte) *http.Client {
	return &http.Client{Transport: roundTrip(func(r *http.Request) (*http.Response, error) {
		requests.Add(1)
		body, _ := io.ReadAll(r.Body)
		r.Body.Close()
		if q := r.URL.Query().Get("q"); q != "" || len(body) == 0 {
			return nil, errors.New("query not posted as a form")
		}
		return &http.Response{StatusCode: int(status.Load()), Header: http.Header{"Content-Type": {"text/html"}},
			Body: io.NopCloser(strings.NewReader(string(page()))), Request: r}, nil
	})}
}

func TestDuckDuckGoBlockAndBackoff(t *testing.T) {
	results, blocked := readFile(t, "duckduckgo.html"), readFile(t, "duckduckgo_blocked.html")
	tests := []struct {
		name   string
		status int
		page   []byte
	}{
		{"202 with CAPTCHA", http.StatusAccepted, blocked},
		{"200 with CAPTCHA", http.StatusOK, blocked},
		{"202 with a normal page", http.StatusAccepted, results},
		{"429", http.StatusTooManyRequests, []byte("slow down")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var requests, status atomic.Int32
				status.Store(int32(tt.status))
				page := tt.page
				ddg := NewDuckDuckGo(DuckDuckGoOptions{Client: fakeDDG(&requests, &status, func() []byte { return page })})
				ctx := context.Background()
				if _, err := ddg.Search(ctx, "q"); !errors.Is(err, ErrBlocked) {
					t.Fatalf("err = %v, want ErrBlocked", err)
				}
				// Within the back-off nothing is sent.
				time.Sleep(59 * time.Second)
				_, err := ddg.Search(ctx, "q")
				if !errors.Is(err, ErrBlocked) || !strings.Contains(err.Error(), "backing off for 1s") {
					t.Fatalf("during back-off: err = %v", err)
				}
				if n := requests.Load(); n != 1 {
					t.Fatalf("%d requests sent, want 1", n)
				}
				// After it, the engine is asked again.
				time.Sleep(2 * time.Second)
				status.Store(http.StatusOK)
				page = results
				if r, err := ddg.Search(ctx, "q"); err != nil || len(r) != 4 {
					t.Fatalf("after back-off: %d results, %v", len(r), err)
				}
			})
		})
	}
}

func TestDuckDuckGoRateLimit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var requests, status atomic.Int32
		status.Store(http.StatusOK)
		page := readFile(t, "duckduckgo.html")
		ddg := NewDuckDuckGo(DuckDuckGoOptions{Client: fakeDDG(&requests, &status, func() []byte { return page }), Burst: 2, Every: 1500 * time.Millisecond})
		start := time.Now()
		for range 4 {
			if _, err := ddg.Search(context.Background(), "q"); err != nil {
				t.Fatal(err)
			}
		}
		if got := time.Since(start); got != 3*time.Second {
			t.Errorf("4 searches with burst 2 at one per 1.5s took %s, want 3s", got)
		}
	})
}

func TestTruncateQuery(t *testing.T) {
	long := strings.Repeat("glück ", 200)
	got := truncateQuery(long)
	if n := utf8.RuneCountInString(got); n > maxQuery || n < maxQuery-6 {
		t.Errorf("truncated to %d characters", n)
	}
	if strings.HasSuffix(got, " ") || !strings.HasSuffix(got, "glück") {
		t.Errorf("not cut at a word: %q", got[len(got)-12:])
	}
	if truncateQuery("short") != "short" {
		t.Error("short query changed")
	}
}

func TestSearXNG(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/searx/search" && r.URL.Query().Get("format") == "json" && r.URL.Query().Get("q") == "nobel 2020":
			w.Header().Set("Content-Type", "application/json")
			w.Write(readFile(t, "searxng.json"))
		case r.URL.Path == "/nojson/search":
			http.Error(w, "Forbidden", http.StatusForbidden)
		case r.URL.Path == "/empty/search":
			w.Write([]byte(`{"query": "x", "results": []}`))
		case r.URL.Path == "/garbage/search":
			w.Write([]byte(`<html>not json</html>`))
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	tool := &Tool{Backend: NewSearXNG(SearXNGOptions{URL: srv.URL + "/searx/", UserAgent: "agent-test"})}
	out, err := tool.Call(context.Background(), tools.Request{Input: "nobel 2020"})
	if err != nil {
		t.Fatal(err)
	}
	want := "1. The Nobel Prize in Literature 2020 - NobelPrize.org\n   https://www.nobelprize.org/prizes/literature/2020/summary/\n" +
		"   The Nobel Prize in Literature 2020 was awarded to Louise Glück \"for her unmistakable poetic voice\".\n\n" +
		"2. Louise Glück - Wikipedia\n   https://en.wikipedia.org/wiki/Louise_Gl%C3%BCck\n" +
		"   Louise Elisabeth Glück was an American poet. She won the 2020 Nobel Prize in Literature."
	if out.Text != want {
		t.Errorf("text =\n%s\nwant\n%s", out.Text, want)
	}
	if len(out.Sources) != 2 {
		t.Errorf("sources = %q", out.Sources)
	}
	for _, tt := range []struct {
		base string
		want error
		msg  string
	}{
		{"/nojson", nil, "settings.yml"},
		{"/empty", ErrNoResults, ""},
		{"/garbage", nil, "reading SearXNG's JSON"},
	} {
		_, err := (&Tool{Backend: NewSearXNG(SearXNGOptions{URL: srv.URL + tt.base})}).Call(context.Background(), tools.Request{Input: "x"})
		if err == nil || tt.want != nil && !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("%s: err = %v", tt.base, err)
		}
	}
}

func FuzzParseDuckDuckGo(f *testing.F) {
	for _, name := range []string{"duckduckgo.html", "duckduckgo_blocked.html", "duckduckgo_noresults.html"} {
		f.Add(string(readFile(f, name)))
	}
	f.Fuzz(func(t *testing.T, page string) {
		results, err := ParseDuckDuckGo(strings.NewReader(page))
		if err == nil && len(results) == 0 {
			t.Fatal("no error and no results")
		}
		for _, r := range results {
			if r.URL == "" {
				t.Fatalf("result without URL: %+v", r)
			}
		}
	})
}

// The search clients check redirect targets as the fetcher does: the configured
// endpoint may be on loopback (a local SearXNG), but what it redirects to, another
// name for the same machine included, meets the address guard.
func TestSearchRedirectsMeetTheGuard(t *testing.T) {
	var reached atomic.Int32
	private := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached.Add(1)
		w.Write([]byte(`{"results":[{"url":"https://example.com/secret","title":"internal"}]}`))
	}))
	defer private.Close()
	var endpoint *httptest.Server
	endpoint = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.HasPrefix(r.URL.Path, "/to-private/"):
			http.Redirect(w, r, private.URL+"/", http.StatusFound)
		case strings.HasPrefix(r.URL.Path, "/to-localhost/"):
			_, port, _ := strings.Cut(strings.TrimPrefix(endpoint.URL, "http://"), ":")
			http.Redirect(w, r, "http://localhost:"+port+"/direct/search?format=json&q=x", http.StatusTemporaryRedirect)
		case strings.HasPrefix(r.URL.Path, "/to-metadata/"):
			http.Redirect(w, r, "http://169.254.169.254/latest/meta-data/", http.StatusFound)
		default:
			w.Write(readFile(t, "searxng.json"))
		}
	}))
	defer endpoint.Close()

	backends := map[string]func(base string) Backend{
		"SearXNG": func(base string) Backend { return NewSearXNG(SearXNGOptions{URL: endpoint.URL + base}) },
		"DuckDuckGo": func(base string) Backend {
			return NewDuckDuckGo(DuckDuckGoOptions{URL: endpoint.URL + base + "/html/"})
		},
	}
	for name, backend := range backends {
		for _, base := range []string{"/to-private", "/to-localhost", "/to-metadata"} {
			t.Run(name+base, func(t *testing.T) {
				_, err := backend(base).Search(context.Background(), "x")
				if !errors.Is(err, fetch.ErrForbiddenAddress) {
					t.Fatalf("err = %v, want ErrForbiddenAddress", err)
				}
				if tools.IsTransient(err) {
					t.Errorf("refusal %v is marked transient", err)
				}
			})
		}
	}
	if n := reached.Load(); n != 0 {
		t.Errorf("the private server got %d requests", n)
	}
	// The endpoint itself, on loopback, is the user's choice and works.
	if _, err := NewSearXNG(SearXNGOptions{URL: endpoint.URL + "/direct"}).Search(context.Background(), "x"); err != nil {
		t.Errorf("local endpoint: %v", err)
	}
}

func FuzzParseSearXNG(f *testing.F) {
	f.Add(string(readFile(f, "searxng.json")))
	f.Add(`{"query": "x", "results": []}`)
	f.Add(`{"results": [{"url": 1}]}`)
	f.Fuzz(func(t *testing.T, body string) {
		results, err := ParseSearXNG(strings.NewReader(body))
		if err == nil && len(results) == 0 {
			t.Fatal("no error and no results")
		}
		if err != nil && results != nil {
			t.Fatalf("results %v beside error %v", results, err)
		}
	})
}
