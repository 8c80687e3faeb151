package scrape

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/rewoo-agent/agent/tools"
	"github.com/rewoo-agent/agent/tools/fetch"
)

func TestReadable(t *testing.T) {
	tests := []struct {
		file     string
		title    string
		contains []string
		excludes []string
	}{
		{
			file:     "article.html",
			title:    "The 2020 Nobel Prize in Literature", // readability drops the site name
			contains: []string{"The Swedish Academy awarded the 2020 Nobel Prize in Literature", "sixteenth woman"},
			excludes: []string{"window.tracking", "font-family", "Copyright Example News", "Most read"},
		},
		{
			file:     "broken.html",
			title:    "Broken <b>page",
			contains: []string{"Unclosed paragraph with italic bold text", "cell one", "Second paragraph & an entity ¬anentity;" /* HTML5 reads the legacy &not */, "deeply nested text that survives"},
			excludes: []string{"document.write", "not text"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			body, err := os.ReadFile("testdata/" + tt.file)
			if err != nil {
				t.Fatal(err)
			}
			title, text := Readable(&fetch.Page{URL: "https://example.com/a", ContentType: "text/html", Text: string(body)})
			if title != tt.title {
				t.Errorf("title = %q, want %q", title, tt.title)
			}
			for _, s := range tt.contains {
				if !strings.Contains(text, s) {
					t.Errorf("text lacks %q:\n%s", s, text)
				}
			}
			for _, s := range tt.excludes {
				if strings.Contains(text, s) {
					t.Errorf("text has %q:\n%s", s, text)
				}
			}
		})
	}
}

func TestCut(t *testing.T) {
	tests := []struct {
		in   string
		max  int
		want string
	}{
		{"short", 10, "short"},
		{"one two three four five", 15, "one two three [...]"},
		{"ééééé", 5, "éé [...]"},
		{"abcdefghij", 4, "abcd [...]"},
		{"anything", 0, "anything"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got := Cut(tt.in, tt.max)
			if got != tt.want {
				t.Errorf("Cut(%q, %d) = %q, want %q", tt.in, tt.max, got, tt.want)
			}
			if !utf8.ValidString(got) {
				t.Errorf("Cut produced invalid UTF-8 %q", got)
			}
		})
	}
}

func TestScraper(t *testing.T) {
	article, err := os.ReadFile("testdata/article.html")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/article":
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.Write(article)
		case "/moved":
			http.Redirect(w, r, "/article", http.StatusFound)
		case "/notes.txt":
			fmt.Fprint(w, "plain notes\n\n\n\nsecond   line")
		case "/image":
			w.Header().Set("Content-Type", "image/jpeg")
			w.Write([]byte{0xff, 0xd8, 0xff})
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	s := &Scraper{Fetcher: fetch.New(fetch.Options{AllowPrivate: true}), MaxURLs: 3, MaxChars: 300}

	t.Run("pages in order with failures inline", func(t *testing.T) {
		in := fmt.Sprintf("Sources: %s/moved, and %s/notes.txt\n%s/image", srv.URL, srv.URL, srv.URL)
		out, err := s.Call(context.Background(), tools.Request{Input: in})
		if err != nil {
			t.Fatal(err)
		}
		wantSources := []string{srv.URL + "/article", srv.URL + "/notes.txt"}
		if fmt.Sprint(out.Sources) != fmt.Sprint(wantSources) {
			t.Errorf("sources = %v, want %v", out.Sources, wantSources)
		}
		parts := strings.Split(out.Text, "\n\nURL: ")
		if len(parts) != 3 {
			t.Fatalf("want 3 sections, got %d:\n%s", len(parts), out.Text)
		}
		if !strings.HasPrefix(parts[0], "URL: "+srv.URL+"/article\nTitle: The 2020 Nobel Prize in Literature\n\n") {
			t.Errorf("first section = %q", parts[0])
		}
		if !strings.HasSuffix(parts[0], "[...]") || len(parts[0]) > 300+150 {
			t.Errorf("first section not cut to MaxChars: %d bytes", len(parts[0]))
		}
		if parts[1] != srv.URL+"/notes.txt\n\nplain notes\n\nsecond line" {
			t.Errorf("second section = %q", parts[1])
		}
		if !strings.HasPrefix(parts[2], srv.URL+"/image\nError: ") || !strings.Contains(parts[2], "unsupported content type image/jpeg") {
			t.Errorf("third section = %q", parts[2])
		}
	})
	t.Run("every page failing is an error", func(t *testing.T) {
		_, err := s.Call(context.Background(), tools.Request{Input: srv.URL + "/missing " + srv.URL + "/image"})
		if !errors.Is(err, fetch.ErrStatus) || !errors.Is(err, fetch.ErrContentType) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("no URLs", func(t *testing.T) {
		_, err := s.Call(context.Background(), tools.Request{Input: "no links here, just javascript:alert(1)"})
		if !errors.Is(err, ErrNoURLs) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("URLs over the cap are named", func(t *testing.T) {
		in := strings.Repeat(srv.URL+"/notes.txt?", 1)
		for i := range 5 {
			in += fmt.Sprintf(" %s/notes.txt?%d", srv.URL, i)
		}
		out, err := s.Call(context.Background(), tools.Request{Input: in})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Sources) != 3 || !strings.HasSuffix(out.Text, "(3 more URLs not fetched: at most 3 per call)") {
			t.Errorf("sources %v, text ends %q", out.Sources, out.Text[max(0, len(out.Text)-80):])
		}
	})
}

// URL passwords never reach the output, the errors or the sources, whether the
// plan wrote them or a redirect did; the page is still fetched with them.
func TestScraperHidesPasswords(t *testing.T) {
	var auth []string
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, pw, _ := r.BasicAuth()
		auth = append(auth, pw)
		switch r.URL.Path {
		case "/page":
			fmt.Fprint(w, "<html><head><title>T</title></head><body><p>Body text.</p></body></html>")
		case "/moved":
			http.Redirect(w, r, strings.Replace(srv.URL, "http://", "http://bob:redirect-secret@", 1)+"/page", http.StatusFound)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	withPassword := strings.Replace(srv.URL, "http://", "http://alice:hunter2@", 1)
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close() // connection refused
	s := &Scraper{Fetcher: fetch.New(fetch.Options{AllowPrivate: true})}
	in := withPassword + "/page\n" + withPassword + "/missing\n" + srv.URL + "/moved\n" +
		strings.Replace(closed.URL, "http://", "http://carol:closed-secret@", 1) + "/x"
	out, err := s.Call(context.Background(), tools.Request{Input: in})
	if err != nil {
		t.Fatal(err)
	}
	shown := out.Text + "\n" + strings.Join(out.Sources, "\n")
	for _, secret := range []string{"hunter2", "redirect-secret", "closed-secret"} {
		if strings.Contains(shown, secret) {
			t.Errorf("%q shown:\n%s", secret, shown)
		}
	}
	if !strings.Contains(out.Text, "Body text.") || !strings.Contains(out.Text, "alice:xxxxx@") || len(out.Sources) != 2 {
		t.Errorf("output %q, sources %q", out.Text, out.Sources)
	}
	if !slices.Contains(auth, "hunter2") || !slices.Contains(auth, "redirect-secret") {
		t.Errorf("passwords sent %q: the page is fetched with the URL's credentials", auth)
	}

	// When every page fails the error holds the URLs: masked too.
	_, err = s.Call(context.Background(), tools.Request{Input: withPassword + "/missing " + strings.Replace(closed.URL, "http://", "http://carol:closed-secret@", 1)})
	if err == nil || strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), "closed-secret") {
		t.Errorf("err = %v", err)
	}
}

// IPv6 literal URLs are found in the input and fetched.
func TestScraperIPv6Literal(t *testing.T) {
	ln, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback here: %v", err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "served over IPv6")
	}))
	srv.Listener = ln
	srv.Start()
	defer srv.Close()
	s := &Scraper{Fetcher: fetch.New(fetch.Options{AllowPrivate: true})}
	out, err := s.Call(context.Background(), tools.Request{Input: "TextScraper[" + srv.URL + "/page]"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.Text, "served over IPv6") || len(out.Sources) != 1 || out.Sources[0] != srv.URL+"/page" {
		t.Errorf("output %q, sources %q", out.Text, out.Sources)
	}
	// Without AllowPrivate the guard, not the URL reader, refuses it.
	_, err = (&Scraper{Fetcher: fetch.New(fetch.Options{})}).Call(context.Background(), tools.Request{Input: srv.URL + "/page"})
	if !errors.Is(err, fetch.ErrForbiddenAddress) {
		t.Errorf("err = %v, want ErrForbiddenAddress", err)
	}
}

func ExampleScraper() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "<html><head><title>Hello</title></head><body><p>Hello, world.</p></body></html>")
	}))
	defer srv.Close()
	// Test servers listen on 127.0.0.1, which plans may not reach by default.
	s := &Scraper{Fetcher: fetch.New(fetch.Options{AllowPrivate: true})}
	out, err := s.Call(context.Background(), tools.Request{Input: srv.URL + "/hello"})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(strings.ReplaceAll(out.Text, srv.URL, "http://server"))
	// Output:
	// URL: http://server/hello
	// Title: Hello
	//
	// Hello, world.
}
