package funcall

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/agnivade/levenshtein"
	"gopkg.in/yaml.v3"
)

// Call is a parsed and checked answer: the function and its params, each of
// its declared type (string, int64, float64 or bool).
type Call struct {
	Function string         `json:"function"`
	Params   map[string]any `json:"params"`
}

// The kinds of Problem, for errors.Is.
var (
	ErrSyntax          = errors.New("not a call")
	ErrUnknownFunction = errors.New("unknown function")
	ErrUnknownParam    = errors.New("unknown param")
	ErrMissingParam    = errors.New("missing required param")
	ErrType            = errors.New("wrong type")
)

// Problem is one thing wrong with an answer.
type Problem struct {
	Kind    error  // one of the Err* kinds above
	Message string // says what and where, with a suggestion where there is one
}

func (p Problem) Error() string { return p.Message }
func (p Problem) Unwrap() error { return p.Kind }

// Errors are the problems of an answer, in the order found: the function's,
// then its params' in name order.
type Errors []Problem

func (e Errors) Error() string {
	msgs := make([]string, len(e))
	for i, p := range e {
		msgs[i] = p.Message
	}
	return strings.Join(msgs, "; ")
}

// Unwrap lets errors.Is find each problem's kind.
func (e Errors) Unwrap() []error {
	out := make([]error, len(e))
	for i, p := range e {
		out[i] = p
	}
	return out
}

// MaxAnswerBytes bounds an answer Parse reads.
const MaxAnswerBytes = 64 << 10

// Parse reads an answer, JSON (from the first "{"; text after the object is
// ignored) or YAML, inside a Markdown code fence or not, and checks it against
// s. A failure is an Errors.
func (s *Set) Parse(answer string) (Call, error) {
	m, err := decode(answer)
	if err != nil {
		return Call{}, Errors{{ErrSyntax, err.Error()}}
	}
	return s.check(m)
}

// decode turns an answer into its top-level mapping.
func decode(answer string) (map[string]any, error) {
	if len(answer) > MaxAnswerBytes {
		return nil, fmt.Errorf("answer of %d bytes, at most %d", len(answer), MaxAnswerBytes)
	}
	text := unfence(strings.TrimSpace(answer))
	if text == "" {
		return nil, errors.New("empty answer: want {\"function\": ..., \"params\": {...}}")
	}
	var m map[string]any
	if strings.HasPrefix(text, "{") {
		dec := json.NewDecoder(strings.NewReader(text))
		dec.UseNumber()
		if err := dec.Decode(&m); err != nil {
			return nil, fmt.Errorf("JSON: %w", err)
		}
		return m, nil
	}
	var node yaml.Node
	if err := yaml.Unmarshal([]byte(text), &node); err != nil {
		return nil, fmt.Errorf("YAML: %w", err)
	}
	if len(node.Content) != 1 || node.Content[0].Kind != yaml.MappingNode {
		return nil, errors.New("want a mapping {function, params}, as JSON or YAML")
	}
	if err := node.Decode(&m); err != nil {
		return nil, fmt.Errorf("YAML: %w", err)
	}
	return m, nil
}

// unfence strips a Markdown code fence (```json ... ```) around text.
func unfence(text string) string {
	if !strings.HasPrefix(text, "```") {
		return text
	}
	body := text[3:]
	if i := strings.IndexByte(body, '\n'); i >= 0 {
		body = body[i+1:]
	} else {
		return ""
	}
	if i := strings.LastIndex(body, "```"); i >= 0 {
		body = body[:i]
	}
	return strings.TrimSpace(body)
}

// check validates the decoded mapping m against s.
func (s *Set) check(m map[string]any) (Call, error) {
	var errs Errors
	for _, k := range sortedKeys(m) {
		if k != "function" && k != "params" && k != "parameters" {
			errs = append(errs, Problem{ErrSyntax, fmt.Sprintf("unknown key %q (want function and params)", k)})
		}
	}
	_, hasParams := m["params"]
	_, hasParameters := m["parameters"]
	if hasParams && hasParameters {
		errs = append(errs, Problem{ErrSyntax, "both params and parameters: give params only"})
	}
	raw, ok := m["function"]
	if !ok {
		return Call{}, append(errs, Problem{ErrSyntax, `no "function" key`})
	}
	name, ok := raw.(string)
	if !ok {
		return Call{}, append(errs, Problem{ErrSyntax, fmt.Sprintf("function is %s, want a name (string)", kindOf(raw))})
	}
	f, ok := s.Lookup(name)
	if !ok {
		msg := fmt.Sprintf("unknown function %q", name)
		if near := closest(name, s.Names()); near != "" {
			msg += fmt.Sprintf(" (did you mean %q?)", near)
		}
		return Call{}, append(errs, Problem{ErrUnknownFunction, msg + "; the functions are " + strings.Join(s.Names(), ", ")})
	}
	params := map[string]any{}
	rawParams, given := m["params"]
	if !given {
		rawParams, given = m["parameters"]
	}
	if given && rawParams != nil {
		pm, ok := rawParams.(map[string]any)
		if !ok {
			return Call{}, append(errs, Problem{ErrSyntax, fmt.Sprintf("params is %s, want a mapping of name to value", kindOf(rawParams))})
		}
		params = pm
	}
	call := Call{Function: f.Name, Params: map[string]any{}}
	declared := map[string]Param{}
	var names []string
	for _, p := range f.Params {
		declared[p.Name] = p
		names = append(names, p.Name)
	}
	for _, k := range sortedKeys(params) {
		p, ok := declared[k]
		if !ok {
			msg := fmt.Sprintf("%s: unknown param %q", f.Name, k)
			if near := closest(k, names); near != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", near)
			}
			if len(names) == 0 {
				msg += "; it takes none"
			} else {
				msg += "; its params are " + strings.Join(names, ", ")
			}
			errs = append(errs, Problem{ErrUnknownParam, msg})
			continue
		}
		v, err := convert(params[k], p.Type)
		if err != nil {
			errs = append(errs, Problem{ErrType, fmt.Sprintf("%s: param %q: %v", f.Name, k, err)})
			continue
		}
		call.Params[k] = v
	}
	for _, p := range f.Params {
		if _, ok := params[p.Name]; p.Required && !ok {
			errs = append(errs, Problem{ErrMissingParam, fmt.Sprintf("%s: missing required param %q (%s)", f.Name, p.Name, p.Type)})
		}
	}
	if len(errs) > 0 {
		return Call{}, errs
	}
	return call, nil
}

// convert returns v as a value of type t.
func convert(v any, t Type) (any, error) {
	switch t {
	case String:
		if s, ok := v.(string); ok {
			return s, nil
		}
	case Boolean:
		if b, ok := v.(bool); ok {
			return b, nil
		}
	case Integer:
		switch n := v.(type) {
		case json.Number:
			i, err := strconv.ParseInt(n.String(), 10, 64)
			if err != nil {
				return nil, fmt.Errorf("%s is not an integer that fits 64 bits", n)
			}
			return i, nil
		case int:
			return int64(n), nil
		case uint64:
			if n <= math.MaxInt64 {
				return int64(n), nil
			}
			return nil, fmt.Errorf("%d does not fit 64 bits", n)
		}
	case Number:
		var f float64
		switch n := v.(type) {
		case json.Number:
			var err error
			if f, err = n.Float64(); err != nil {
				return nil, fmt.Errorf("%s is not a finite number", n)
			}
		case int:
			f = float64(n)
		case uint64:
			f = float64(n)
		case float64:
			f = n
		default:
			return nil, fmt.Errorf("is %s, want a number", kindOf(v))
		}
		if math.IsInf(f, 0) || math.IsNaN(f) {
			return nil, fmt.Errorf("%v is not a finite number", v)
		}
		return f, nil
	}
	return nil, fmt.Errorf("is %s, want %s", kindOf(v), article(t))
}

func article(t Type) string {
	if t == Integer {
		return "an integer"
	}
	return "a " + string(t)
}

// kindOf names the type of a decoded value as a user reads it.
func kindOf(v any) string {
	switch v := v.(type) {
	case nil:
		return "null"
	case string:
		return fmt.Sprintf("a string (%q)", clip(v))
	case bool:
		return fmt.Sprintf("a boolean (%v)", v)
	case json.Number:
		if _, err := v.Int64(); err == nil {
			return "an integer (" + v.String() + ")"
		}
		return "a number (" + clip(v.String()) + ")"
	case int, int64, uint64:
		return fmt.Sprintf("an integer (%v)", v)
	case float64:
		return fmt.Sprintf("a number (%v)", v)
	case map[string]any:
		return "a mapping"
	case []any:
		return "a list"
	default:
		return fmt.Sprintf("%T", v)
	}
}

// clip keeps a quoted value in a message short.
func clip(s string) string {
	if r := []rune(s); len(r) > 40 {
		return string(r[:40]) + "…"
	}
	return s
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// closest is the name nearest to s by edit distance (case folded), if one is
// near enough to be a likely typo: at most a third of its length, at least 2.
func closest(s string, names []string) string {
	best, bestD := "", math.MaxInt
	for _, n := range names {
		d := levenshtein.ComputeDistance(strings.ToLower(s[:min(len(s), 128)]), strings.ToLower(n))
		if d < bestD {
			best, bestD = n, d
		}
	}
	if bestD <= max(2, len(best)/3) {
		return best
	}
	return ""
}

// String is the call as compact JSON, keys in order.
func (c Call) String() string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(c); err != nil {
		return fmt.Sprintf("%s(%v)", c.Function, c.Params)
	}
	return strings.TrimSpace(b.String())
}
