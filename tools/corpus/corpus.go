package corpus

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/index/scorch"
	index "github.com/blevesearch/bleve_index_api"

	"github.com/rewoo-agent/agent/tools/scrape"
	"github.com/rewoo-agent/agent/tools/search"
)

// Options bound what a corpus reads. Zero values take the defaults.
type Options struct {
	MaxFileBytes  int64 // a larger file is skipped (4 MiB)
	MaxFiles      int   // more documents than this is an error (50000)
	MaxTotalBytes int64 // more bytes of documents in all is an error (512 MiB)
	MaxResults    int   // search results returned at most (8)
	// CheckEvery is how long a search or read trusts the index before walking the
	// folder for changes again (2s); negative means at every call. Refresh always
	// walks.
	CheckEvery time.Duration
}

// Errors callers may branch on.
var (
	ErrTooMany  = errors.New("folder too large to index")
	ErrEmpty    = errors.New("no documents in the folder")
	ErrNotFound = errors.New("no such document")
	ErrQuery    = errors.New("bad query")
)

// maxQuery bounds a query's length: a search is a few words, not a page of evidence.
const maxQuery = 1024

// Corpus is a folder of documents and its full-text index. It is safe for
// concurrent use.
type Corpus struct {
	dir  string
	opts Options

	mu      sync.RWMutex
	index   bleve.Index // nil until the first refresh
	files   map[string]fileEntry
	docs    map[string]*Document // by URL
	byPath  map[string]*Document
	byTitle map[string]*Document // lower-case title; nil entry when ambiguous
	checked time.Time            // when the last refresh walked the folder
	now     func() time.Time     // the clock; tests move it
}

type fileState struct {
	size    int64
	modTime time.Time
}

func (s fileState) same(o fileState) bool { return s.size == o.size && s.modTime.Equal(o.modTime) }

type fileEntry struct {
	state fileState
	url   string // the document's URL, "" when skipped
	err   error  // why it was skipped
	dup   bool   // skipped for a URL another file has: worth another look next time
}

// Open returns the corpus of the documents under dir. It only checks that dir is a
// folder; the index is built at the first Refresh, Search or Document.
func Open(dir string, opts Options) (*Corpus, error) {
	abs, err := filepath.Abs(dir)
	if err == nil {
		abs, err = filepath.EvalSymlinks(abs)
	}
	if err != nil {
		return nil, fmt.Errorf("corpus %s: %w", dir, err)
	}
	st, err := os.Stat(abs)
	if err != nil {
		return nil, fmt.Errorf("corpus %s: %w", dir, err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("corpus %s: not a folder", dir)
	}
	opts.MaxFileBytes = cmp.Or(max(opts.MaxFileBytes, 0), 4<<20)
	opts.MaxFiles = cmp.Or(max(opts.MaxFiles, 0), 50000)
	opts.MaxTotalBytes = cmp.Or(max(opts.MaxTotalBytes, 0), 512<<20)
	opts.MaxResults = cmp.Or(max(opts.MaxResults, 0), 8)
	opts.CheckEvery = cmp.Or(opts.CheckEvery, 2*time.Second)
	return &Corpus{dir: abs, opts: opts, now: time.Now}, nil
}

// Dir is the corpus folder, absolute with symbolic links resolved.
func (c *Corpus) Dir() string { return c.dir }

// Close releases the index.
func (c *Corpus) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.index == nil {
		return nil
	}
	err := c.index.Close()
	c.index = nil
	c.files, c.docs, c.byPath, c.byTitle = nil, nil, nil, nil
	return err
}

func newIndex() (bleve.Index, error) {
	text := bleve.NewTextFieldMapping()
	text.Analyzer = "en"
	text.Store = false
	text.IncludeTermVectors = false
	doc := bleve.NewDocumentMapping()
	doc.AddFieldMappingsAt("title", text)
	doc.AddFieldMappingsAt("text", text)
	m := bleve.NewIndexMapping()
	m.DefaultMapping = doc
	m.DefaultAnalyzer = "en"
	m.ScoringModel = index.BM25Scoring
	// Scorch with no path is its in-memory form, and the one that scores by BM25.
	return bleve.NewUsing("", m, scorch.Name, scorch.Name, nil)
}

// Refresh brings the index up to date with the folder: it indexes new and changed
// files and drops removed ones. It fails, changing nothing, when ctx ends, the
// folder cannot be walked, or it holds more than the options allow.
func (c *Corpus) Refresh(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.refresh(ctx)
}

// refreshIfStale refreshes unless the last walk is more recent than CheckEvery.
func (c *Corpus) refreshIfStale(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.index != nil && c.opts.CheckEvery > 0 && c.now().Sub(c.checked) < c.opts.CheckEvery {
		return nil
	}
	return c.refresh(ctx)
}

// refresh is Refresh with c.mu held.
func (c *Corpus) refresh(ctx context.Context) error {
	start := c.now()
	states, err := c.walk(ctx)
	if err != nil {
		return err
	}
	idx := c.index
	if idx == nil {
		if idx, err = newIndex(); err != nil {
			return fmt.Errorf("corpus %s: index: %w", c.dir, err)
		}
	}
	files := make(map[string]fileEntry, len(states))
	docs := map[string]*Document{}
	byPath := map[string]*Document{}
	batch := idx.NewBatch()
	var total int64
	rels := make([]string, 0, len(states))
	for rel := range states {
		rels = append(rels, rel)
	}
	sort.Strings(rels) // a URL claimed twice goes to the first path, every time
	for _, rel := range rels {
		st := states[rel]
		total += st.size
		if total > c.opts.MaxTotalBytes {
			c.discard(idx)
			return fmt.Errorf("corpus %s: %w: more than %d bytes of documents", c.dir, ErrTooMany, c.opts.MaxTotalBytes)
		}
		if err := ctx.Err(); err != nil {
			c.discard(idx)
			return err
		}
		if old, ok := c.files[rel]; ok && old.state.same(st) && !old.dup && (old.url == "" || docs[old.url] == nil) {
			files[rel] = old
			if old.url != "" {
				d := c.docs[old.url]
				docs[d.URL], byPath[rel] = d, d
			}
			continue
		}
		e := fileEntry{state: st}
		d, err := c.read(rel, st)
		switch {
		case err != nil:
			e.err = err
		case docs[d.URL] != nil:
			e.err, e.dup = fmt.Errorf("URL %s already used by %s", d.URL, docs[d.URL].Path), true
		default:
			e.url = d.URL
			docs[d.URL], byPath[rel] = d, d
			if err := batch.Index(d.URL, map[string]string{"title": d.Title, "text": d.Text}); err != nil {
				e.err, e.url = err, ""
				delete(docs, d.URL)
				delete(byPath, rel)
			}
		}
		files[rel] = e
	}
	// Drop what went away or changed its URL.
	for u := range c.docs {
		if docs[u] == nil {
			batch.Delete(u)
		}
	}
	if batch.Size() == 0 && idx == c.index && len(docs) == len(c.docs) {
		c.files, c.checked = files, start // only skipped files may have changed
		return nil
	}
	if err := idx.Batch(batch); err != nil {
		c.discard(idx)
		return fmt.Errorf("corpus %s: index: %w", c.dir, err)
	}
	byTitle := map[string]*Document{}
	for _, d := range docs {
		k := strings.ToLower(d.Title)
		if _, dup := byTitle[k]; dup {
			byTitle[k] = nil
			continue
		}
		byTitle[k] = d
	}
	c.index, c.files, c.docs, c.byPath, c.byTitle = idx, files, docs, byPath, byTitle
	c.checked = start
	return nil
}

// discard closes an index made by a refresh that failed.
func (c *Corpus) discard(idx bleve.Index) {
	if idx != c.index {
		idx.Close()
	}
}

// walk lists the candidate files under the folder, without following links.
func (c *Corpus) walk(ctx context.Context) (map[string]fileState, error) {
	states := map[string]fileState{}
	err := filepath.WalkDir(c.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == c.dir {
				return err
			}
			return nil // an unreadable subfolder is left out, the rest indexed
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if p != c.dir && strings.HasPrefix(d.Name(), ".") {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() || extensions[strings.ToLower(filepath.Ext(p))] == "" {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return nil
		}
		rel, err := filepath.Rel(c.dir, p)
		if err != nil {
			return err
		}
		if len(states) == c.opts.MaxFiles {
			return fmt.Errorf("%w: more than %d documents", ErrTooMany, c.opts.MaxFiles)
		}
		states[filepath.ToSlash(rel)] = fileState{info.Size(), info.ModTime()}
		return nil
	})
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("corpus %s: %w", c.dir, err)
	}
	return states, nil
}

// read reads and parses one file, refusing one over the size limit whatever its
// size was when walked.
func (c *Corpus) read(rel string, st fileState) (*Document, error) {
	if st.size > c.opts.MaxFileBytes {
		return nil, fmt.Errorf("%w: %d bytes, at most %d", ErrTooLarge, st.size, c.opts.MaxFileBytes)
	}
	p := filepath.Join(c.dir, filepath.FromSlash(rel))
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, c.opts.MaxFileBytes+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > c.opts.MaxFileBytes {
		return nil, fmt.Errorf("%w: more than %d bytes", ErrTooLarge, c.opts.MaxFileBytes)
	}
	d, err := parse(rel, (&url.URL{Scheme: "file", Path: filepath.ToSlash(p)}).String(), data)
	if err != nil {
		return nil, err
	}
	return &d, nil
}

// Skipped returns the files of the last refresh that are not indexed, with why,
// as "path: reason", sorted.
func (c *Corpus) Skipped() []string {
	c.mu.RLock()
	defer c.mu.RUnlock()
	var out []string
	for rel, e := range c.files {
		if e.err != nil {
			out = append(out, rel+": "+e.err.Error())
		}
	}
	sort.Strings(out)
	return out
}

// Len is the number of documents indexed at the last refresh.
func (c *Corpus) Len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.docs)
}

var _ search.Backend = (*Corpus)(nil)

// Engine names the corpus as a search backend.
func (c *Corpus) Engine() string { return "Local search of " + c.dir }

// Search refreshes a stale index (see Options.CheckEvery) and returns the documents best matching query, best
// first, at most Options.MaxResults: their title, URL and the sentence that best
// matches the query. No match is an error wrapping search.ErrNoResults, an empty
// folder one wrapping ErrEmpty.
func (c *Corpus) Search(ctx context.Context, query string) ([]search.Result, error) {
	if len(query) > maxQuery {
		return nil, fmt.Errorf("%w: %d bytes, at most %d", ErrQuery, len(query), maxQuery)
	}
	// Punctuation goes: the word segmenter would keep "title:foo" as one word.
	q := oneLine(strings.Map(func(r rune) rune {
		if unicode.IsLetter(r) || unicode.IsDigit(r) || r == '\'' || r == '-' {
			return r
		}
		return ' '
	}, query))
	if q == "" {
		return nil, fmt.Errorf("%w: no words in %q", ErrQuery, query)
	}
	if err := c.refreshIfStale(ctx); err != nil {
		return nil, err
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	if len(c.docs) == 0 {
		return nil, fmt.Errorf("corpus %s: %w (%d files skipped)", c.dir, ErrEmpty, len(c.files))
	}
	res, err := c.search(ctx, q, 0)
	if err == nil && len(res.Hits) == 0 {
		// No word matched: spelling correction, as a web search does it. The
		// words are matched within two edits ("Fivale" finds "Firavale").
		res, err = c.search(ctx, q, maxFuzziness)
	}
	if err != nil {
		return nil, fmt.Errorf("corpus %s: search %q: %w", c.dir, q, err)
	}
	var out []search.Result
	for _, h := range res.Hits {
		d := c.docs[h.ID]
		if d == nil {
			continue
		}
		out = append(out, search.Result{Title: d.Title, URL: d.URL, Snippet: snippet(d.Text, q)})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%q: %w", q, search.ErrNoResults)
	}
	return out, nil
}

// maxFuzziness is the edits a word of a query may be from a word of a document
// when the exact words match nothing (bleve's largest).
const maxFuzziness = 2

// search runs q over the titles (weighted twice), the texts and the texts as a
// phrase, its words matched within fuzziness edits. Match queries analyse the
// text as words: no query syntax, nothing to inject. Call with c.mu held.
func (c *Corpus) search(ctx context.Context, q string, fuzziness int) (*bleve.SearchResult, error) {
	title := bleve.NewMatchQuery(q)
	title.SetField("title")
	title.SetBoost(2)
	title.SetFuzziness(fuzziness)
	text := bleve.NewMatchQuery(q)
	text.SetField("text")
	text.SetFuzziness(fuzziness)
	phrase := bleve.NewMatchPhraseQuery(q)
	phrase.SetField("text")
	phrase.SetFuzziness(fuzziness)
	req := bleve.NewSearchRequestOptions(bleve.NewDisjunctionQuery(title, text, phrase), c.opts.MaxResults, 0, false)
	// Equal scores come back in the order of the index's segments, which differs
	// from one indexing of the same folder to the next: the document id breaks ties.
	req.SortBy([]string{"-_score", "_id"})
	return c.index.SearchInContext(ctx, req)
}

// Document refreshes a stale index and returns the document whose URL, relative path
// or (case-insensitive, unique) title is ref.
func (c *Corpus) Document(ctx context.Context, ref string) (Document, error) {
	if err := c.refreshIfStale(ctx); err != nil {
		return Document{}, err
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	ref = strings.TrimSpace(ref)
	d := c.docs[ref]
	if d == nil {
		d = c.byPath[strings.TrimPrefix(filepath.ToSlash(ref), "./")]
	}
	if d == nil {
		d = c.byTitle[strings.ToLower(oneLine(ref))]
	}
	if d == nil {
		return Document{}, fmt.Errorf("%w: %q in %s", ErrNotFound, ref, c.dir)
	}
	return *d, nil
}

// maxSnippet bounds a result's snippet.
const maxSnippet = 240

// snippet is the run of consecutive sentences of text, at most maxSnippet bytes
// (one sentence cut to it at least), that holds the most distinct words of the
// query, the first such run on a tie.
func snippet(text, query string) string {
	words := map[string]bool{}
	for _, w := range strings.FieldsFunc(strings.ToLower(query), notWord) {
		if len(w) > 2 {
			words[w] = true
		}
	}
	var sentences []string
	for line := range strings.SplitSeq(text, "\n") {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "#") {
			continue // a heading repeats the title more often than not
		}
		for _, s := range strings.SplitAfter(line, ". ") {
			if s = oneLine(s); s != "" {
				sentences = append(sentences, s)
			}
		}
	}
	best, bestScore := "", -1
	for i := range sentences {
		window, hits := sentences[i], map[string]bool{}
		for j := i; j < len(sentences); j++ {
			if j > i {
				if len(window)+1+len(sentences[j]) > maxSnippet {
					break
				}
				window += " " + sentences[j]
			}
			for _, w := range strings.FieldsFunc(strings.ToLower(sentences[j]), notWord) {
				if words[w] {
					hits[w] = true
				}
			}
		}
		if len(hits) > bestScore {
			best, bestScore = window, len(hits)
		}
	}
	if best == "" {
		return ""
	}
	return scrape.Cut(best, maxSnippet)
}

func notWord(r rune) bool {
	return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r > 127)
}
