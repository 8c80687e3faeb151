package research

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Question is one question of a job.
type Question struct {
	ID, Text string
	// File and Line say where the question was read, for messages.
	File string
	Line int
}

// MaxQuestionLine bounds one line of a question file.
const MaxQuestionLine = 1 << 20

// ErrNoQuestions is returned for a question file with nothing but empty lines.
var ErrNoQuestions = errors.New("no questions")

// QuestionsError lists every problem of a question file, in line order.
type QuestionsError struct {
	Name     string // the file's name in messages
	Problems []Problem
}

// Problem is what is wrong with one line of a question file.
type Problem struct {
	Line int
	Msg  string
}

// maxProblems is how many problems a QuestionsError message shows.
const maxProblems = 20

func (e *QuestionsError) Error() string {
	var b strings.Builder
	b.WriteString("the questions cannot be read:")
	for i, p := range e.Problems {
		if i == maxProblems {
			fmt.Fprintf(&b, "\nand %d more problems", len(e.Problems)-maxProblems)
			break
		}
		fmt.Fprintf(&b, "\n%s:%d: %s", e.Name, p.Line, p.Msg)
	}
	return b.String()
}

// ReadQuestions reads a question file; name is how messages call it. The file
// holds one question per line, its id the line number, or JSONL objects
// {"id": ..., "question": ...} when the first non-empty line starts with "{"
// (an id is a string or a number; other fields are ignored). Empty lines are
// skipped, a byte order mark dropped, text trimmed and invalid UTF-8 replaced. Every malformed line and
// repeated id is reported, with its line, in a *QuestionsError.
func ReadQuestions(r io.Reader, name string) ([]Question, error) {
	var (
		qs    []Question
		qerr  = &QuestionsError{Name: name}
		jsonl bool
		first = true
		seen  = map[string]int{}
		line  int
	)
	fail := func(format string, args ...any) {
		qerr.Problems = append(qerr.Problems, Problem{line, fmt.Sprintf(format, args...)})
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), MaxQuestionLine)
	for sc.Scan() {
		line++
		raw := sc.Text()
		if line == 1 {
			raw = strings.TrimPrefix(raw, "\ufeff") // a byte order mark
		}
		text := strings.TrimSpace(strings.ToValidUTF8(raw, string(utf8.RuneError)))
		if text == "" {
			continue
		}
		if first {
			jsonl, first = strings.HasPrefix(text, "{"), false
		}
		q := Question{ID: strconv.Itoa(line), Text: text, File: name, Line: line}
		if jsonl {
			var err error
			if q.ID, q.Text, err = parseQuestion(text); err != nil {
				fail("%v", err)
				continue
			}
		}
		if prev, dup := seen[q.ID]; dup {
			fail("id %q repeats line %d", q.ID, prev)
			continue
		}
		seen[q.ID] = line
		qs = append(qs, q)
	}
	if err := sc.Err(); errors.Is(err, bufio.ErrTooLong) {
		line++
		fail("the line is longer than %d bytes", MaxQuestionLine)
	} else if err != nil {
		return nil, fmt.Errorf("reading %s: %w", name, err)
	}
	if len(qerr.Problems) > 0 {
		return nil, qerr
	}
	if len(qs) == 0 {
		return nil, fmt.Errorf("%s has %w", name, ErrNoQuestions)
	}
	return qs, nil
}

// parseQuestion reads one JSONL line of a question file: an object with an id
// (a string or a number) and a question.
func parseQuestion(text string) (id, question string, err error) {
	var obj struct {
		ID       json.RawMessage `json:"id"`
		Question *string         `json:"question"`
	}
	if err := json.Unmarshal([]byte(text), &obj); err != nil {
		return "", "", fmt.Errorf("not a JSON object: %v", err)
	}
	switch raw := bytes.TrimSpace(obj.ID); {
	case len(raw) == 0 || string(raw) == "null":
		return "", "", errors.New(`no "id"`)
	case raw[0] == '"':
		if err := json.Unmarshal(raw, &id); err != nil {
			return "", "", fmt.Errorf(`"id": %v`, err)
		}
	case raw[0] == '-' || raw[0] >= '0' && raw[0] <= '9':
		id = string(raw)
	default:
		return "", "", fmt.Errorf(`"id" is %s: want a string or a number`, raw)
	}
	if strings.TrimSpace(id) == "" {
		return "", "", errors.New(`the "id" is empty`)
	}
	if obj.Question == nil || strings.TrimSpace(*obj.Question) == "" {
		return "", "", errors.New(`no "question"`)
	}
	return id, strings.TrimSpace(*obj.Question), nil
}
