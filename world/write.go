package world

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// Markdown returns the document as written to disk: a front matter block holding its
// URL and title, then the text. Corpus readers take the document's URL from it.
func (d Document) Markdown() string {
	return "---\nurl: " + d.URL + "\ntitle: " + d.Title + "\n---\n" + d.Text
}

// WriteDocuments writes every document under dir at its Path (people/ada-smith.md,
// ...), creating folders as needed and replacing files of the same name.
func (w *World) WriteDocuments(dir string) error {
	for _, d := range w.docs {
		p := filepath.Join(dir, filepath.FromSlash(d.Path))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return fmt.Errorf("write documents: %w", err)
		}
		if err := os.WriteFile(p, []byte(d.Markdown()), 0o644); err != nil {
			return fmt.Errorf("write documents: %w", err)
		}
	}
	return nil
}

// Write writes the whole world under dir: the documents under dir/docs, each
// split's questions as dir/train.jsonl, dir/dev.jsonl and dir/test.jsonl, and
// dir/documents.jsonl, one Document object a line: the documents with their split,
// so that training reads only the training documents.
func (w *World) Write(dir string) error {
	if err := w.WriteDocuments(filepath.Join(dir, "docs")); err != nil {
		return err
	}
	if err := writeJSONL(filepath.Join(dir, "documents.jsonl"), w.docs); err != nil {
		return err
	}
	for _, s := range Splits {
		if err := writeJSONL(filepath.Join(dir, string(s)+".jsonl"), w.Questions(s)); err != nil {
			return err
		}
	}
	return nil
}

// WriteQuestions writes qs as JSON Lines, one question object a line.
func WriteQuestions(out io.Writer, qs []Question) error {
	bw := bufio.NewWriter(out)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	for _, q := range qs {
		if err := enc.Encode(q); err != nil {
			return fmt.Errorf("write question %s: %w", q.ID, err)
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write questions: %w", err)
	}
	return nil
}

// ErrQuestion marks a question line ReadQuestions rejects.
var ErrQuestion = errors.New("bad question")

// maxLine bounds one JSONL line: far above any question this package writes.
const maxLine = 1 << 20

// ReadQuestions reads a JSON Lines question set as WriteQuestions writes it. Blank
// lines are skipped; a line that is not a question object with an id, a question and
// an answer is an error naming the line, wrapping ErrQuestion.
func ReadQuestions(in io.Reader) ([]Question, error) {
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 64*1024), maxLine)
	var out []Question
	ids := map[string]int{}
	for line := 1; sc.Scan(); line++ {
		b := sc.Bytes()
		if strings.TrimSpace(string(b)) == "" {
			continue
		}
		var q Question
		dec := json.NewDecoder(strings.NewReader(string(b)))
		if err := dec.Decode(&q); err != nil {
			return nil, fmt.Errorf("line %d: %w: %v", line, ErrQuestion, err)
		}
		if dec.More() {
			return nil, fmt.Errorf("line %d: %w: more than one JSON value", line, ErrQuestion)
		}
		switch {
		case q.ID == "":
			return nil, fmt.Errorf("line %d: %w: no id", line, ErrQuestion)
		case strings.TrimSpace(q.Question) == "":
			return nil, fmt.Errorf("line %d: %w %s: no question", line, ErrQuestion, q.ID)
		case strings.TrimSpace(q.Answer) == "":
			return nil, fmt.Errorf("line %d: %w %s: no answer", line, ErrQuestion, q.ID)
		}
		if first, dup := ids[q.ID]; dup {
			return nil, fmt.Errorf("line %d: %w %s: id already used on line %d", line, ErrQuestion, q.ID, first)
		}
		ids[q.ID] = line
		out = append(out, q)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read questions: %w", err)
	}
	return out, nil
}

// writeJSONL writes xs to the file p, one JSON value a line.
func writeJSONL[T any](p string, xs []T) error {
	f, err := os.Create(p)
	if err != nil {
		return fmt.Errorf("write %s: %w", p, err)
	}
	bw := bufio.NewWriter(f)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	for _, x := range xs {
		if err = enc.Encode(x); err != nil {
			break
		}
	}
	if err == nil {
		err = bw.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", p, err)
	}
	return nil
}
