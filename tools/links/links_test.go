package links

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/rewoo-agent/agent/tools"
)

func TestFind(t *testing.T) {
	tests := []struct {
		name string
		in   string
		max  int
		want []string
	}{
		{"plain text", "See https://example.com/a and http://example.org.", 0,
			[]string{"https://example.com/a", "http://example.org/"}},
		{"duplicates and fragments", "https://a.example/x#top https://a.example/x https://A.EXAMPLE/x#b", 0,
			[]string{"https://a.example/x"}},
		{"sentence punctuation", "(see https://en.wikipedia.org/wiki/Go_(programming_language)), or https://b.example/p?q=1; https://c.example/\"", 0,
			[]string{"https://en.wikipedia.org/wiki/Go_(programming_language)", "https://b.example/p?q=1", "https://c.example/"}},
		{"plan brackets", "TextScraper[https://a.example/1\nhttps://a.example/2]", 0,
			[]string{"https://a.example/1", "https://a.example/2"}},
		{"markdown", "[docs](https://go.dev/doc/) and <https://go.dev/blog>", 0,
			[]string{"https://go.dev/doc/", "https://go.dev/blog"}},
		{"cap", "https://1.example https://2.example https://3.example", 2,
			[]string{"https://1.example/", "https://2.example/"}},
		{"IPv6 literals", "Try http://[2606:4700::1]/, TextScraper[https://[2001:DB8::1]:8443/x] or http://u:p@[::1]:80/a.", 0,
			[]string{"http://[2606:4700::1]/", "https://[2001:db8::1]:8443/x", "http://u:p@[::1]:80/a"}},
		{"junk only", "mailto:me@example.com javascript:void(0) ftp://files.example/ #frag /relative", 0, nil},
		{"html", `<html><body><a href="/rel">r</a> <a href="javascript:alert(1)">j</a>
			<a href="mailto:x@example.com">m</a> <a href="#top">t</a>
			<a href="https://example.com/a?x=1&amp;y=2">a</a> text https://example.com/b
			<script>var u = "https://tracker.example/";</script>
			<a href=" HTTPS://Example.com/c ">c</a></body></html>`, 0,
			[]string{"https://example.com/a?x=1&y=2", "https://example.com/b", "https://example.com/c"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Find(tt.in, tt.max)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Find = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestExtractorCall(t *testing.T) {
	req := tools.Request{
		Input: "1. Go\n   https://go.dev/\n2. Tour\n   https://go.dev/tour/",
		Cited: []tools.Cited{
			{Name: ":evidence0:", Tool: "DuckDuckGo", Sources: []string{"https://go.dev/", "https://go.dev/tour/"}},
			{Name: ":evidence1:", Tool: "DuckDuckGo", Sources: []string{"https://go.dev/"}},
		},
	}
	out, err := Extractor{Max: 10}.Call(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if out.Text != "https://go.dev/\nhttps://go.dev/tour/" {
		t.Errorf("text = %q", out.Text)
	}
	if !reflect.DeepEqual(out.Sources, []string{"https://go.dev/", "https://go.dev/tour/"}) {
		t.Errorf("sources = %q", out.Sources)
	}
	if _, err := (Extractor{}).Call(context.Background(), tools.Request{Input: "nothing"}); !errors.Is(err, ErrNoLinks) {
		t.Errorf("no links: err = %v", err)
	}
}

func FuzzFind(f *testing.F) {
	for _, s := range []string{"https://a.example/x#y", `<a href="https://b.example">`, "http://[::1]:80/", "https://x.example/((a)", "<html><a href='%zz'>"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := Find(s, 0)
		seen := map[string]bool{}
		for _, u := range got {
			if seen[u] {
				t.Fatalf("duplicate %q", u)
			}
			seen[u] = true
			if !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") || strings.Contains(u, "#") {
				t.Fatalf("bad link %q", u)
			}
			if Normalize(u) != u {
				t.Fatalf("link %q not normalized (%q)", u, Normalize(u))
			}
		}
	})
}

func ExampleFind() {
	fmt.Println(Find("Read https://go.dev/doc/ (and https://go.dev/doc/#top).", 0))
	// Output: [https://go.dev/doc/]
}
