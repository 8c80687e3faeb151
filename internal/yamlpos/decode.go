// Package yamlpos decodes YAML strictly, with every problem reported at its
// place in the file as file:line:col: message: keys that name no field (with the
// closest known key suggested), values of the wrong type (field: expected a
// duration, got "abc"), syntax errors. The configuration (configs) and the custom
// tools file (tools/custom) are read with it.
package yamlpos

import (
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/agnivade/levenshtein"
	"gopkg.in/yaml.v3"
)

// Error is a problem at a place in a YAML file. It formats as file:line:col: message,
// the form editors and terminals link to.
type Error struct {
	File string
	Line int // 1-based; 0 when unknown
	Col  int // 1-based; 0 when unknown
	Msg  string
}

func (e *Error) Error() string {
	switch {
	case e.Line == 0:
		return fmt.Sprintf("%s: %s", e.File, e.Msg)
	case e.Col == 0:
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Col, e.Msg)
}

// NodeError returns an Error at n's position in file (no position for a nil n).
func NodeError(file string, n *yaml.Node, format string, args ...any) *Error {
	e := &Error{File: file, Msg: fmt.Sprintf(format, args...)}
	if n != nil {
		e.Line, e.Col = n.Line, n.Column
	}
	return e
}

// Decode decodes the YAML document data (named file in errors) into v, a pointer
// to a struct whose fields carry yaml tags; see DecodeNode. An empty document
// leaves v unchanged.
func Decode(file string, data []byte, v any) error {
	doc, err := Parse(file, data)
	if err != nil || doc == nil {
		return err
	}
	return DecodeNode(file, doc, v, "")
}

// Parse parses data into its root node, nil for an empty document. Syntax errors
// are Errors naming file.
func Parse(file string, data []byte) (*yaml.Node, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, yamlError(file, err)
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return nil, nil
	}
	return doc.Content[0], nil
}

// DecodeNode decodes n into v. Keys that name no field are errors, with the
// closest known key suggested, and so are values of the wrong type; every error
// points at file:line:col, names the field by its path below path (tools[2].http
// .timeout), and they are joined in line order. Fields n does not mention keep
// their values, so decoding several documents into one value layers them.
func DecodeNode(file string, n *yaml.Node, v any, path string) error {
	c := checker{file: file, budget: maxNodes}
	c.check(n, reflect.TypeOf(v), path)
	if len(c.errs) > 0 {
		return joinErrors(c.errs)
	}
	if err := n.Decode(v); err != nil {
		return yamlError(file, err)
	}
	return nil
}

// maxNodes bounds the nodes a check visits, aliases expanded, so that a few
// lines of nested aliases cannot make it run for ever.
const maxNodes = 1 << 18

var yamlLine = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)

// yamlError turns yaml.v3's "line N: msg" errors into Errors naming file.
func yamlError(file string, err error) error {
	var msgs []string
	var te *yaml.TypeError
	if errors.As(err, &te) {
		msgs = te.Errors
	} else {
		msgs = []string{err.Error()}
	}
	errs := make([]*Error, 0, len(msgs))
	for _, m := range msgs {
		e := &Error{File: file, Msg: strings.TrimPrefix(m, "yaml: ")}
		if g := yamlLine.FindStringSubmatch(m); g != nil {
			e.Line, _ = strconv.Atoi(g[1])
			e.Msg = g[2]
		}
		errs = append(errs, e)
	}
	return joinErrors(errs)
}

func joinErrors(errs []*Error) error {
	sort.SliceStable(errs, func(i, j int) bool {
		if errs[i].Line != errs[j].Line {
			return errs[i].Line < errs[j].Line
		}
		return errs[i].Col < errs[j].Col
	})
	list := make([]error, len(errs))
	for i, e := range errs {
		list[i] = e
	}
	return errors.Join(list...)
}

var (
	unmarshalerType = reflect.TypeFor[yaml.Unmarshaler]()
	durationType    = reflect.TypeFor[time.Duration]()
	nodeType        = reflect.TypeFor[yaml.Node]()
)

type checker struct {
	file   string
	budget int
	errs   []*Error
}

func (c *checker) errorf(n *yaml.Node, path, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if path != "" {
		msg = path + ": " + msg
	}
	c.errs = append(c.errs, NodeError(c.file, n, "%s", msg))
}

// check walks n beside the type t it will decode into and reports every mapping
// key that names no field and every value that t cannot hold.
func (c *checker) check(n *yaml.Node, t reflect.Type, path string) {
	if c.budget--; c.budget < 0 {
		if c.budget == -1 {
			c.errorf(n, "", "the document expands past %d nodes (aliases of aliases?)", maxNodes)
		}
		return
	}
	if n.Kind == yaml.AliasNode {
		if n.Alias == nil {
			return
		}
		n = n.Alias
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return // null leaves any field at its zero value
	}
	for t.Kind() == reflect.Pointer && !t.Implements(unmarshalerType) {
		t = t.Elem()
	}
	if t == nodeType {
		return // the caller decodes it later
	}
	if t.Implements(unmarshalerType) || reflect.PointerTo(t).Implements(unmarshalerType) {
		if t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		if err := n.Decode(reflect.New(t).Interface()); err != nil {
			c.errorf(n, path, "%s", strings.TrimPrefix(err.Error(), "yaml: "))
		}
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			c.errorf(n, path, "expected a mapping, got %s", describe(n))
			return
		}
		fields := yamlFields(t)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			if k.Value == "<<" && k.Tag == "!!merge" {
				c.check(val, t, path)
				continue
			}
			ft, ok := fields[k.Value]
			if !ok {
				msg := fmt.Sprintf("unknown field %q", k.Value)
				if path != "" {
					msg += " in " + path
				}
				if s := closest(k.Value, fields); s != "" {
					msg += fmt.Sprintf(" (did you mean %q?)", s)
				}
				c.errs = append(c.errs, NodeError(c.file, k, "%s", msg))
				continue
			}
			c.check(val, ft, joinPath(path, k.Value))
		}
	case reflect.Slice, reflect.Array:
		if n.Kind != yaml.SequenceNode {
			c.errorf(n, path, "expected a list, got %s", describe(n))
			return
		}
		for i, e := range n.Content {
			c.check(e, t.Elem(), fmt.Sprintf("%s[%d]", path, i))
		}
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			c.errorf(n, path, "expected a mapping, got %s", describe(n))
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			c.check(n.Content[i+1], t.Elem(), joinPath(path, n.Content[i].Value))
		}
	case reflect.Interface:
		// Anything goes.
	default:
		want := expected(t)
		if n.Kind != yaml.ScalarNode {
			c.errorf(n, path, "expected %s, got %s", want, describe(n))
			return
		}
		if err := n.Decode(reflect.New(t).Interface()); err != nil {
			c.errorf(n, path, "expected %s, got %s", want, describe(n))
		}
	}
}

// expected names what a value of type t is written as.
func expected(t reflect.Type) string {
	if t == durationType {
		return "a duration (such as 10s or 1m30s)"
	}
	switch t.Kind() {
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "an integer"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return "a non-negative integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.String:
		return "a string"
	}
	return "a " + t.String()
}

// describe says what n is, for "got ...".
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.SequenceNode:
		return "a list"
	case yaml.MappingNode:
		return "a mapping"
	case yaml.ScalarNode:
		v := n.Value
		if len(v) > 40 {
			v = v[:40] + "..."
		}
		return strconv.Quote(v)
	}
	return "nothing"
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// yamlFields maps the keys of struct type t to field types, following inline fields.
func yamlFields(t reflect.Type) map[string]reflect.Type {
	m := map[string]reflect.Type{}
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" {
			continue
		}
		if strings.Contains(opts, "inline") {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				for k, v := range yamlFields(ft) {
					m[k] = v
				}
			}
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		m[name] = f.Type
	}
	return m
}

// closest returns the known key nearest to key, if it is near enough to be a typo.
func closest(key string, fields map[string]reflect.Type) string {
	best, bestD := "", 3
	for k := range fields {
		d := levenshtein.ComputeDistance(strings.ToLower(key), k)
		if d < bestD || d == bestD && best != "" && k < best {
			best, bestD = k, d
		}
	}
	if best != "" && bestD > len(key)/2 {
		return ""
	}
	return best
}
