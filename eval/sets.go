package eval

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"os"
	"path/filepath"
	"strings"
	"unicode"

	"github.com/rewoo-agent/agent/world"
)

// Item is one question of a set with its gold answer.
type Item struct {
	ID       string `json:"id"`
	Question string `json:"question"`
	Answer   string `json:"answer"`
}

// Doc is a document a set serves as the local corpus.
type Doc struct {
	URL, Title, Text string
}

// Set is an evaluation set: its questions and, for the published multi-hop sets,
// the paragraphs that come with them, served as the corpus.
type Set struct {
	Name  string
	Items []Item
	Docs  []Doc
}

// Shard is the items of s from offset on, at most limit of them (0: all).
func (s *Set) Shard(offset, limit int) []Item {
	items := s.Items[min(max(offset, 0), len(s.Items)):]
	if limit > 0 && limit < len(items) {
		items = items[:limit]
	}
	return items
}

// ErrFormat marks a set file that is none of the formats Load reads, or is broken.
var ErrFormat = errors.New("bad evaluation set")

// maxSetBytes bounds a set file Load reads whole.
const maxSetBytes = 2 << 30

// Load reads a set file: the offline world's questions (JSON Lines, as world.Write
// writes them; the corpus is then the docs/ folder beside the file), HotpotQA's or
// 2WikiMultihopQA's published JSON (an array of objects with _id, question, answer
// and context), or MuSiQue's JSON Lines (id, question, answer, paragraphs).
func Load(path string) (*Set, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if len(data) > maxSetBytes {
		return nil, fmt.Errorf("%s: %w: larger than %d bytes", path, ErrFormat, maxSetBytes)
	}
	s, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	s.Name = filepath.Base(path)
	return s, nil
}

// Parse reads a set in any of the formats Load reads, telling them apart by their
// shape.
func Parse(data []byte) (*Set, error) {
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 {
		return nil, fmt.Errorf("%w: empty", ErrFormat)
	}
	if trimmed[0] == '[' {
		return parseHotpot(trimmed)
	}
	first := trimmed
	if i := bytes.IndexByte(trimmed, '\n'); i >= 0 {
		first = trimmed[:i]
	}
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(first, &probe); err != nil {
		return nil, fmt.Errorf("%w: line 1: %v", ErrFormat, err)
	}
	if _, ok := probe["paragraphs"]; ok {
		return parseMuSiQue(trimmed)
	}
	qs, err := world.ReadQuestions(bytes.NewReader(trimmed))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrFormat, err)
	}
	s := &Set{}
	for _, q := range qs {
		s.Items = append(s.Items, Item{ID: q.ID, Question: q.Question, Answer: q.Answer})
	}
	return s, nil
}

// hotpot is one HotpotQA (distractor) or 2WikiMultihopQA question: context is a
// list of [title, [sentence, ...]] pairs.
type hotpot struct {
	ID       string              `json:"_id"`
	Question string              `json:"question"`
	Answer   string              `json:"answer"`
	Context  [][]json.RawMessage `json:"context"`
}

func parseHotpot(data []byte) (*Set, error) {
	var raw []hotpot
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("%w: HotpotQA/2WikiMultihopQA JSON: %v", ErrFormat, err)
	}
	s := &Set{}
	docs := newDocs()
	for i, q := range raw {
		if err := checkItem(q.ID, q.Question, q.Answer); err != nil {
			return nil, fmt.Errorf("%w: question %d: %w", ErrFormat, i, err)
		}
		s.Items = append(s.Items, Item{ID: q.ID, Question: q.Question, Answer: q.Answer})
		for j, c := range q.Context {
			var title string
			var sents []string
			if len(c) != 2 || json.Unmarshal(c[0], &title) != nil || json.Unmarshal(c[1], &sents) != nil {
				return nil, fmt.Errorf("%w: question %s: context %d is not [title, [sentences]]", ErrFormat, q.ID, j)
			}
			docs.add(title, strings.Join(sents, ""))
		}
	}
	s.Docs = docs.list
	return s, nil
}

// musique is one MuSiQue question.
type musique struct {
	ID         string `json:"id"`
	Question   string `json:"question"`
	Answer     string `json:"answer"`
	Paragraphs []struct {
		Title string `json:"title"`
		Text  string `json:"paragraph_text"`
	} `json:"paragraphs"`
}

func parseMuSiQue(data []byte) (*Set, error) {
	s := &Set{}
	docs := newDocs()
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64<<10), 64<<20)
	for line := 1; sc.Scan(); line++ {
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		var q musique
		if err := json.Unmarshal(b, &q); err != nil {
			return nil, fmt.Errorf("%w: MuSiQue line %d: %v", ErrFormat, line, err)
		}
		if err := checkItem(q.ID, q.Question, q.Answer); err != nil {
			return nil, fmt.Errorf("%w: MuSiQue line %d: %w", ErrFormat, line, err)
		}
		s.Items = append(s.Items, Item{ID: q.ID, Question: q.Question, Answer: q.Answer})
		for _, p := range q.Paragraphs {
			docs.add(p.Title, p.Text)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrFormat, err)
	}
	s.Docs = docs.list
	return s, nil
}

func checkItem(id, question, answer string) error {
	switch {
	case id == "":
		return errors.New("no id")
	case strings.TrimSpace(question) == "":
		return fmt.Errorf("%s: no question", id)
	case strings.TrimSpace(answer) == "":
		return fmt.Errorf("%s: no answer", id)
	}
	return nil
}

// docs collects paragraphs once each (the sets repeat a title's paragraph across
// questions), giving each a doc:// URL from its title.
type docs struct {
	list []Doc
	seen map[string]bool // title + text
	urls map[string]int  // URLs taken, with the count of their uses
}

func newDocs() *docs { return &docs{seen: map[string]bool{}, urls: map[string]int{}} }

func (d *docs) add(title, text string) {
	title, text = strings.TrimSpace(title), strings.TrimSpace(text)
	if text == "" || d.seen[title+"\x00"+text] {
		return
	}
	d.seen[title+"\x00"+text] = true
	u := "doc://" + slug(title)
	if n := d.urls[u]; n > 0 {
		d.urls[u]++
		u = fmt.Sprintf("%s-%d", u, n+1)
	} else {
		d.urls[u] = 1
	}
	d.list = append(d.list, Doc{URL: u, Title: title, Text: text})
}

// slug is title in lower case, letters and digits kept, other runs as one dash.
func slug(title string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(title) {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			if dash && b.Len() > 0 {
				b.WriteByte('-')
			}
			b.WriteRune(r)
			dash = false
		} else {
			dash = true
		}
		if b.Len() > 120 {
			break
		}
	}
	if b.Len() == 0 {
		return "untitled"
	}
	return b.String()
}

// WriteCorpus writes the set's documents under dir as Markdown files with front
// matter (url, title), the form tools/corpus reads.
func (s *Set) WriteCorpus(dir string) error {
	for i, d := range s.Docs {
		p := filepath.Join(dir, fmt.Sprintf("%06d.md", i))
		title := strings.Join(strings.Fields(d.Title), " ")
		body := "---\nurl: " + d.URL + "\ntitle: " + title + "\n---\n# " + title + "\n\n" + d.Text + "\n"
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			return fmt.Errorf("write corpus: %w", err)
		}
	}
	return nil
}

// Offline world settings: the shipped model was trained on this world's training
// split; the offline set is its test split, its documents (every split's) the
// corpus.
const (
	OfflineSeed = 1
	OfflineSize = 5000
)

// Offline generates the shipped offline set and writes its corpus under dir.
func Offline(dir string) (*Set, error) {
	w, err := world.Generate(OfflineSeed, OfflineSize)
	if err != nil {
		return nil, err
	}
	if err := w.WriteDocuments(dir); err != nil {
		return nil, err
	}
	s := &Set{Name: fmt.Sprintf("offline world %d/%d test", OfflineSeed, OfflineSize)}
	for _, q := range w.Questions(world.Test) {
		s.Items = append(s.Items, Item{ID: q.ID, Question: q.Question, Answer: q.Answer})
	}
	return s, nil
}
