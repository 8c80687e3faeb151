package corpus

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/rewoo-agent/agent/tools"
	"github.com/rewoo-agent/agent/tools/search"
)

// folder writes files (slash path -> content) under a temporary folder.
func folder(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for p, s := range files {
		write(t, dir, p, s)
	}
	return dir
}

func write(t *testing.T, dir, p, s string) {
	t.Helper()
	full := filepath.Join(dir, filepath.FromSlash(p))
	if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(full, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

func open(t *testing.T, dir string, opts Options) *Corpus {
	t.Helper()
	c, err := Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		file, url, title, text string
	}{
		{"note.md", "world://people/ada-smith", "Ada Smith", "Ada Smith was a novelist. She was born in Varenholm in 1843."},
		{"plain.txt", "file:///x/plain.txt", "Shopping list", "Shopping list\n\nEggs, flour and a kilo of plums for the tart."},
		{"page.html", "file:///x/page.html", "Orchard notes", "The plum trees were pruned in March; the pears flowered a week later than last year."},
		{"broken-front.md", "file:///x/broken-front.md", "", "The block above is not YAML."},
		{"crlf.md", "notes://crlf", "Windows note", "Line one.\nLine two."},
	} {
		t.Run(tc.file, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("testdata", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			d, err := parse(tc.file, "file:///x/"+tc.file, data)
			if err != nil {
				t.Fatal(err)
			}
			if d.URL != tc.url || tc.title != "" && d.Title != tc.title || !strings.Contains(d.Text, tc.text) {
				t.Errorf("got %+v\nwant url %q title %q text containing %q", d, tc.url, tc.title, tc.text)
			}
			if strings.Contains(d.Text, "not text") || strings.Contains(d.Text, "Home | About") {
				t.Errorf("script or navigation in the text: %q", d.Text)
			}
		})
	}
	for name, in := range map[string]string{
		"binary":  "abc\x00def",
		"latin-1": "caf\xe9",
		"bad url": "---\nurl: not a url\n---\ntext",
		"empty":   " \n\t\n",
	} {
		t.Run(name, func(t *testing.T) {
			if d, err := parse("x.md", "file:///x.md", []byte(in)); err == nil {
				t.Errorf("parsed %+v, want an error", d)
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/*.*")
	for _, p := range seeds {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(filepath.Base(p), b)
	}
	f.Fuzz(func(t *testing.T, name string, data []byte) {
		d, err := parse(name, "file:///x", data)
		if err != nil {
			return
		}
		if d.Title == "" || strings.ContainsAny(d.Title, "\n\r\t") || !utf8.ValidString(d.Title) || !utf8.ValidString(d.Text) {
			t.Errorf("bad document %+v", d)
		}
		if !validURL(d.URL) {
			t.Errorf("URL %q", d.URL)
		}
	})
}

func TestSearchAndRead(t *testing.T) {
	dir := folder(t, map[string]string{
		"garden/plums.md":  "# Plums\n\nThe plum trees need pruning in March.\n",
		"garden/pears.md":  "---\nurl: notes://pears\n---\n# Pears\n\nPears flower late. Pruning pears is done in winter.\n",
		"recipes/tart.txt": "Plum tart\n\nA kilo of plums, sugar and flour.\n",
		"web/saved.html":   "<html><head><title>Saved page</title><style>p{plum:1}</style></head><body><p>Quinces are pruned like plums, in March, when pruning is easy.</p></body></html>",
		"ignored.pdf":      "plums",
		".git/plums.md":    "# Hidden plums",
	})
	c := open(t, dir, Options{})
	ctx := context.Background()
	st := &SearchTool{Corpus: c}
	out, err := st.Call(ctx, tools.Request{Input: "  plum   pruning "})
	if err != nil {
		t.Fatal(err)
	}
	if c.Len() != 4 {
		t.Errorf("%d documents indexed, want 4 (pdf and .git left out)", c.Len())
	}
	if !strings.Contains(out.Text, ". Saved page\n") || !strings.Contains(out.Text, "/web/saved.html\n   Quinces are pruned") {
		t.Errorf("the HTML page is not found by its text, titled by its <title>:\n%s", out.Text)
	}
	if len(out.Sources) == 0 || !strings.HasSuffix(out.Sources[0], "/garden/plums.md") {
		t.Fatalf("sources %v: plums.md should rank first\n%s", out.Sources, out.Text)
	}
	if !strings.HasPrefix(out.Text, "1. Plums\n   file://") || !strings.Contains(out.Text, "   The plum trees need pruning in March.") {
		t.Errorf("output:\n%s", out.Text)
	}

	rt := &ReaderTool{Corpus: c}
	got, err := rt.Call(ctx, tools.Request{Input: out.Text + "\nnotes://nowhere"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Sources) != len(out.Sources) || !strings.Contains(got.Text, "URL: notes://nowhere\nError: no such document") {
		t.Errorf("read %v from %v:\n%s", got.Sources, out.Sources, got.Text)
	}
	for _, ref := range []string{"notes://pears", "garden/pears.md", "./garden/pears.md", "pears"} {
		got, err := rt.Call(ctx, tools.Request{Input: ref})
		if err != nil || len(got.Sources) != 1 || got.Sources[0] != "notes://pears" {
			t.Errorf("read %q: %v %v", ref, got.Sources, err)
			continue
		}
		if want := "URL: notes://pears\nTitle: Pears\n\nPears flower late."; !strings.HasPrefix(got.Text, want) {
			t.Errorf("read %q:\n%s\nwant prefix\n%s", ref, got.Text, want)
		}
	}
	if _, err := rt.Call(ctx, tools.Request{Input: "notes://nowhere\nworld://nor/here"}); !errors.Is(err, ErrNotFound) {
		t.Errorf("reading only unknown documents: %v, want ErrNotFound", err)
	}
	if _, err := st.Call(ctx, tools.Request{Input: "zebra"}); !errors.Is(err, search.ErrNoResults) {
		t.Errorf("no match: %v, want search.ErrNoResults", err)
	}
	many := &ReaderTool{Corpus: c, MaxDocs: 1}
	if got, err := many.Call(ctx, tools.Request{Input: "notes://pears garden/plums.md " + out.Sources[0]}); err != nil || !strings.Contains(got.Text, "(1 more documents not read: at most 1 per call)") {
		t.Errorf("over MaxDocs: %v\n%s", err, got.Text)
	}
}

// TestSameOutputAsWebSearch feeds the corpus through the web search tool as its
// backend and checks the corpus tool writes exactly what the web tool does.
func TestSameOutputAsWebSearch(t *testing.T) {
	files := map[string]string{}
	for i := range 12 {
		files[fmt.Sprintf("d%02d.md", i)] = fmt.Sprintf("---\nurl: https://notes.example/d%02d\ntitle: Note %d on rivers\n---\nRivers and river  banks, note %d.\nSecond   line about rivers.\n", i, i, i)
	}
	c := open(t, folder(t, files), Options{})
	ctx := context.Background()
	req := tools.Request{Input: "rivers"}
	web, err := (&search.Tool{Backend: c}).Call(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	local, err := (&SearchTool{Corpus: c}).Call(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if local.Text != web.Text || strings.Join(local.Sources, " ") != strings.Join(web.Sources, " ") {
		t.Errorf("local:\n%s\n%v\nweb:\n%s\n%v", local.Text, local.Sources, web.Text, web.Sources)
	}
	if len(local.Sources) != 8 {
		t.Errorf("%d results, want the default 8", len(local.Sources))
	}
}

func TestHostileFolders(t *testing.T) {
	ctx := context.Background()
	t.Run("huge, binary and duplicate files are skipped with reasons", func(t *testing.T) {
		dir := folder(t, map[string]string{
			"ok.md":      "# Fine\n\nA note about otters.",
			"huge.txt":   strings.Repeat("otters ", 400),
			"binary.txt": "otters\x00\x01\x02",
			"latin.txt":  "otters caf\xe9",
			"a.md":       "---\nurl: notes://same\n---\notters one",
			"b.md":       "---\nurl: notes://same\n---\notters two",
			"badurl.md":  "---\nurl: \"has space\"\n---\notters",
		})
		c := open(t, dir, Options{MaxFileBytes: 1000, CheckEvery: -1})
		res, err := c.Search(ctx, "otters")
		if err != nil {
			t.Fatal(err)
		}
		if len(res) != 2 {
			t.Errorf("results %+v, want ok.md and a.md", res)
		}
		skipped := strings.Join(c.Skipped(), "\n")
		for _, want := range []string{"b.md: URL notes://same already used by a.md", "badurl.md: front matter url is not a URL", "binary.txt: binary", "huge.txt: file too large", "latin.txt: binary"} {
			if !strings.Contains(skipped, want) {
				t.Errorf("skipped:\n%s\nlacks %q", skipped, want)
			}
		}
		// The file that held a URL goes away: the other one claiming it is indexed.
		os.Remove(filepath.Join(dir, "a.md"))
		if d, err := c.Document(ctx, "notes://same"); err != nil || d.Path != "b.md" {
			t.Errorf("after removing a.md: %+v %v", d, err)
		}
	})
	t.Run("symbolic links are not followed", func(t *testing.T) {
		outside := folder(t, map[string]string{"secret.md": "# Secret\n\nwalrus"})
		dir := folder(t, map[string]string{"note.md": "# Note\n\nwalrus in the note"})
		for name, target := range map[string]string{
			"loop":      ".",
			"up":        "..",
			"out":       outside,
			"secret.md": filepath.Join(outside, "secret.md"),
			"self.md":   "self.md",
		} {
			if err := os.Symlink(target, filepath.Join(dir, name)); err != nil {
				t.Skip("no symbolic links here:", err)
			}
		}
		c := open(t, dir, Options{})
		res, err := c.Search(ctx, "walrus")
		if err != nil {
			t.Fatal(err)
		}
		if len(res) != 1 || !strings.HasSuffix(res[0].URL, "/note.md") {
			t.Errorf("results %+v, want only note.md", res)
		}
	})
	t.Run("too many files is an error, not a partial index", func(t *testing.T) {
		files := map[string]string{}
		for i := range 5 {
			files[fmt.Sprintf("n%d.txt", i)] = "heron"
		}
		c := open(t, folder(t, files), Options{MaxFiles: 4})
		if _, err := c.Search(ctx, "heron"); !errors.Is(err, ErrTooMany) {
			t.Errorf("err = %v, want ErrTooMany", err)
		}
		c = open(t, folder(t, files), Options{MaxTotalBytes: 12})
		if _, err := c.Search(ctx, "heron"); !errors.Is(err, ErrTooMany) {
			t.Errorf("err = %v, want ErrTooMany over MaxTotalBytes", err)
		}
	})
	t.Run("empty folder", func(t *testing.T) {
		c := open(t, folder(t, map[string]string{"x.bin": "data"}), Options{})
		if _, err := c.Search(ctx, "anything"); !errors.Is(err, ErrEmpty) {
			t.Errorf("err = %v, want ErrEmpty", err)
		}
	})
	t.Run("not a folder", func(t *testing.T) {
		dir := folder(t, map[string]string{"f.md": "x"})
		for _, p := range []string{filepath.Join(dir, "f.md"), filepath.Join(dir, "missing")} {
			if _, err := Open(p, Options{}); err == nil {
				t.Errorf("Open(%s) succeeded", p)
			}
		}
	})
}

func TestHostileQueries(t *testing.T) {
	c := open(t, folder(t, map[string]string{
		"a.md": "# Title one\n\nfoo bar baz, title: quoted \"words\" and C++ code.",
		"b.md": "# Other\n\nnothing alike",
	}), Options{})
	ctx := context.Background()
	for _, q := range []string{
		`+foo -bar`, `title:foo`, `foo^10`, `"unclosed phrase`, `foo~2`, `/re.*gex/`, `*`, `?`,
		`(foo AND bar) OR NOT baz`, `\`, `foo:`, `:`, `C++`, `_id:a.md`, `text:"words"`, "\x00\x01",
		strings.Repeat("(", 200), strings.Repeat("foo ", 200),
	} {
		res, err := c.Search(ctx, q)
		if err != nil && !errors.Is(err, search.ErrNoResults) && !errors.Is(err, ErrQuery) {
			t.Errorf("Search(%q): %v", q, err)
		}
		for _, r := range res {
			if r.URL == "" || r.Title == "" {
				t.Errorf("Search(%q): result %+v", q, r)
			}
		}
	}
	for _, q := range []string{"", " \t\n", strings.Repeat("x", maxQuery+1)} {
		if _, err := c.Search(ctx, q); !errors.Is(err, ErrQuery) {
			t.Errorf("Search(%.20q...): %v, want ErrQuery", q, err)
		}
	}
	// Syntax characters are words here: "title:foo" finds the document with foo.
	if res, err := c.Search(ctx, "title:foo"); err != nil || !strings.HasSuffix(res[0].URL, "/a.md") {
		t.Errorf("title:foo: %+v %v", res, err)
	}
}

// touch rewrites a file with a modification time clearly after the last one, so the
// test does not depend on the file system's clock resolution.
func touch(t *testing.T, dir, p, s string, at time.Time) {
	t.Helper()
	write(t, dir, p, s)
	if err := os.Chtimes(filepath.Join(dir, p), at, at); err != nil {
		t.Fatal(err)
	}
}

func TestRefreshSeesChanges(t *testing.T) {
	dir := folder(t, map[string]string{"a.md": "# A\n\nbadger"})
	c := open(t, dir, Options{CheckEvery: -1})
	ctx := context.Background()
	find := func(q string) []string {
		t.Helper()
		res, err := c.Search(ctx, q)
		if errors.Is(err, search.ErrNoResults) {
			return nil
		}
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, r := range res {
			out = append(out, filepath.Base(r.URL))
		}
		return out
	}
	if got := find("badger"); len(got) != 1 {
		t.Fatalf("badger: %v", got)
	}
	base := time.Now().Add(time.Hour)
	touch(t, dir, "a.md", "# A\n\nmarten", base)
	touch(t, dir, "b.md", "# B\n\nbadger", base)
	if got := find("marten"); strings.Join(got, " ") != "a.md" {
		t.Errorf("after the edit, marten: %v", got)
	}
	if got := find("badger"); strings.Join(got, " ") != "b.md" {
		t.Errorf("after the edit, badger: %v", got)
	}
	if err := os.Remove(filepath.Join(dir, "b.md")); err != nil {
		t.Fatal(err)
	}
	if got := find("badger"); got != nil {
		t.Errorf("after the removal, badger: %v", got)
	}
	if _, err := c.Document(ctx, "b.md"); !errors.Is(err, ErrNotFound) {
		t.Errorf("removed document: %v", err)
	}

	// A cancelled refresh fails and keeps the index it had.
	touch(t, dir, "a.md", "# A\n\nstoat", base.Add(time.Hour))
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if err := c.Refresh(cancelled); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled refresh: %v", err)
	}
	c.mu.RLock()
	text := c.docs[c.byPath["a.md"].URL].Text
	c.mu.RUnlock()
	if text != "marten" {
		t.Errorf("after a cancelled refresh the document is %q, want the old %q", text, "marten")
	}
}

func TestConcurrentCalls(t *testing.T) {
	dir := folder(t, map[string]string{"a.md": "# A\n\nlynx", "b.md": "# B\n\nlynx and wolf"})
	c := open(t, dir, Options{CheckEvery: -1})
	ctx := context.Background()
	st, rt := &SearchTool{Corpus: c}, &ReaderTool{Corpus: c}
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := range 8 {
		wg.Go(func() {
			for j := range 5 {
				if i == 0 {
					touch(t, dir, fmt.Sprintf("n%d.md", j), "# N\n\nlynx", time.Now().Add(time.Duration(j)*time.Minute))
				}
				if _, err := st.Call(ctx, tools.Request{Input: "lynx"}); err != nil {
					errs <- err
				}
				if _, err := rt.Call(ctx, tools.Request{Input: "a.md"}); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if c.Len() != 7 {
		t.Errorf("%d documents, want 7", c.Len())
	}
}

// TestCheckEvery: within CheckEvery of the last walk a search trusts the index;
// after it, it sees the change. bleve's analysis workers are global goroutines
// started outside any synctest bubble, so the test moves the corpus's clock instead.
func TestCheckEvery(t *testing.T) {
	dir := folder(t, map[string]string{"a.md": "# A\n\notter"})
	c := open(t, dir, Options{CheckEvery: 5 * time.Second})
	now := time.Now()
	c.now = func() time.Time { return now }
	ctx := context.Background()
	count := func() int {
		res, err := c.Search(ctx, "otter")
		if err != nil {
			t.Fatal(err)
		}
		return len(res)
	}
	if n := count(); n != 1 {
		t.Fatalf("%d results, want 1", n)
	}
	write(t, dir, "b.md", "# B\n\notter too")
	now = now.Add(4 * time.Second)
	if n := count(); n != 1 {
		t.Errorf("4s after the last walk: %d results, want the index's 1", n)
	}
	now = now.Add(2 * time.Second)
	if n := count(); n != 2 {
		t.Errorf("6s after the last walk: %d results, want 2", n)
	}
}

// TestSpellingCorrection: a query whose words match nothing is tried again with
// each word within two edits, as a web search corrects spelling; exact matches
// keep the exact ranking, and a word far from every other still finds nothing.
func TestSpellingCorrection(t *testing.T) {
	c := open(t, folder(t, map[string]string{
		"firavale.md":  "# Firavale\n\nFiravale is a town in Boruland.",
		"fivemile.md":  "# Five Mile Creek\n\nA creek far from any town.",
		"sevispire.md": "# Sevispire\n\nSevispire is a town in Ostmark.",
	}), Options{MaxResults: 4})
	ctx := t.Context()
	res, err := c.Search(ctx, "Fivale")
	if err != nil || len(res) == 0 || res[0].Title != "Firavale" {
		t.Fatalf("Fivale: %+v, %v; want Firavale first", res, err)
	}
	if res, err := c.Search(ctx, "Sevispire"); err != nil || len(res) != 1 || res[0].Title != "Sevispire" {
		t.Errorf("an exact match: %+v, %v; want only Sevispire", res, err)
	}
	if _, err := c.Search(ctx, "qxzzjkw"); !errors.Is(err, search.ErrNoResults) {
		t.Errorf("no word within two edits: %v, want search.ErrNoResults", err)
	}
}
