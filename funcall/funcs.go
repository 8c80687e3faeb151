package funcall

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
	"text/template"

	"gopkg.in/yaml.v3"

	"github.com/rewoo-agent/agent/tools"
)

// Type is the type of a parameter's value.
type Type string

const (
	String  Type = "string"
	Integer Type = "integer" // a whole number that fits int64
	Number  Type = "number"  // any finite number
	Boolean Type = "boolean"
)

// Param is one parameter of a function.
type Param struct {
	Name        string `yaml:"name"`
	Type        Type   `yaml:"type"` // "" is String
	Description string `yaml:"description"`
	Required    bool   `yaml:"required"`
}

// Function is what the model may call: a name, what it does, its parameters,
// and how a call becomes a tool's input.
type Function struct {
	Name        string  `yaml:"name"`
	Description string  `yaml:"description"`
	Params      []Param `yaml:"params"`
	// Tool is the tool a call runs; "" is the tool named like the function.
	Tool string `yaml:"tool"`
	// Input is a text/template over the call's params that makes the tool's
	// input, e.g. "{{.city}} {{.unit}}" (an optional param not given is ""); ""
	// is the single param's value, or the params as a JSON object when there
	// are several.
	Input string `yaml:"input"`

	input *template.Template
}

// Set is a checked list of functions, in the order the prompt lists them.
type Set struct {
	funcs  []Function
	byName map[string]int
}

// ErrDefinition is wrapped by every error about a function list.
var ErrDefinition = errors.New("invalid function definition")

// MaxParams is the most parameters a function may have.
const MaxParams = 64

// nameRE is what function and parameter names may look like: no quotes, colons,
// spaces or brackets, which would break the YAML listing or the JSON answer.
var nameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.-]{0,63}$`)

// NewSet checks fs: valid, distinct names; known types; templates that parse.
func NewSet(fs ...Function) (*Set, error) {
	s := &Set{byName: map[string]int{}}
	if len(fs) == 0 {
		return nil, fmt.Errorf("%w: no functions", ErrDefinition)
	}
	for _, f := range fs {
		if err := f.check(); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrDefinition, err)
		}
		if _, dup := s.byName[f.Name]; dup {
			return nil, fmt.Errorf("%w: function %q defined twice", ErrDefinition, f.Name)
		}
		f.Params = append([]Param(nil), f.Params...)
		for i := range f.Params {
			if f.Params[i].Type == "" {
				f.Params[i].Type = String
			}
		}
		if f.Input != "" {
			t, err := template.New(f.Name).Option("missingkey=zero").Parse(f.Input)
			if err != nil {
				return nil, fmt.Errorf("%w: function %q: input: %w", ErrDefinition, f.Name, err)
			}
			f.input = t
		}
		s.byName[f.Name] = len(s.funcs)
		s.funcs = append(s.funcs, f)
	}
	return s, nil
}

func (f Function) check() error {
	if !nameRE.MatchString(f.Name) {
		return fmt.Errorf("function name %q: want a letter or _ then letters, digits, _ . or - (at most 64)", f.Name)
	}
	if len(f.Params) > MaxParams {
		return fmt.Errorf("function %q: %d params, at most %d", f.Name, len(f.Params), MaxParams)
	}
	seen := map[string]bool{}
	for _, p := range f.Params {
		if !nameRE.MatchString(p.Name) {
			return fmt.Errorf("function %q: param name %q: want a letter or _ then letters, digits, _ . or - (at most 64)", f.Name, p.Name)
		}
		if seen[p.Name] {
			return fmt.Errorf("function %q: param %q defined twice", f.Name, p.Name)
		}
		seen[p.Name] = true
		switch p.Type {
		case "", String, Integer, Number, Boolean:
		default:
			return fmt.Errorf("function %q: param %q: type %q: want string, integer, number or boolean", f.Name, p.Name, p.Type)
		}
	}
	return nil
}

// Functions returns the functions in order.
func (s *Set) Functions() []Function { return append([]Function(nil), s.funcs...) }

// Lookup returns the function called name.
func (s *Set) Lookup(name string) (Function, bool) {
	i, ok := s.byName[name]
	if !ok {
		return Function{}, false
	}
	return s.funcs[i], true
}

// Names returns the function names in order.
func (s *Set) Names() []string {
	out := make([]string, len(s.funcs))
	for i, f := range s.funcs {
		out[i] = f.Name
	}
	return out
}

// FromTool is the function of a tool: its name and description, one required
// string param, input, which is the tool's input.
func FromTool(t tools.Tool) Function {
	return Function{Name: t.Name(), Description: t.Description(),
		Params: []Param{{Name: "input", Type: String, Description: "the input of " + t.Name(), Required: true}}}
}

// FromTools is the function of each tool (see FromTool), followed by extra
// functions; an extra function named like a tool replaces the tool's own, so
// a YAML file can give a tool real parameters.
func FromTools(ts []tools.Tool, extra ...Function) []Function {
	replaced := map[string]bool{}
	for _, f := range extra {
		replaced[f.Name] = true
	}
	var out []Function
	for _, t := range ts {
		if !replaced[t.Name()] {
			out = append(out, FromTool(t))
		}
	}
	return append(out, extra...)
}

// maxFileBytes bounds a functions file.
const maxFileBytes = 1 << 20

// LoadFile reads the functions file at path; see Decode.
func LoadFile(path string) ([]Function, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("functions file: %w", err)
	}
	fs, err := Decode(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return fs, nil
}

// Decode reads a functions file:
//
//	functions:
//	  - name: weather
//	    description: The current weather of a city.
//	    tool: Weather         # the tool it runs (default: the one named like it)
//	    input: "{{.city}}"    # the tool's input (default: the single param's value)
//	    params:
//	      - name: city
//	        type: string      # string (default), integer, number or boolean
//	        description: The city, e.g. Paris.
//	        required: true
//
// Unknown keys are errors with their line. The functions are checked by NewSet.
func Decode(data []byte) ([]Function, error) {
	if len(data) > maxFileBytes {
		return nil, fmt.Errorf("%w: %d bytes, at most %d", ErrDefinition, len(data), maxFileBytes)
	}
	var file struct {
		Functions []Function `yaml:"functions"`
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&file); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrDefinition, err)
	}
	if len(file.Functions) == 0 {
		return nil, fmt.Errorf("%w: no functions (want a list under functions:)", ErrDefinition)
	}
	if _, err := NewSet(file.Functions...); err != nil {
		return nil, err
	}
	return file.Functions, nil
}

// ToolInput is the input the tool of call's function gets: Function.Input
// executed over the params, else the single param's value as text, else the
// params as a JSON object.
func (s *Set) ToolInput(c Call) (tool, input string, err error) {
	f, ok := s.Lookup(c.Function)
	if !ok {
		return "", "", fmt.Errorf("%w %q", ErrUnknownFunction, c.Function)
	}
	tool = f.Tool
	if tool == "" {
		tool = f.Name
	}
	switch {
	case f.input != nil:
		data := map[string]any{}
		for _, p := range f.Params {
			data[p.Name] = "" // an optional param not given reads as nothing
		}
		for k, v := range c.Params {
			data[k] = v
		}
		var b strings.Builder
		if err := f.input.Execute(&b, data); err != nil {
			return "", "", fmt.Errorf("function %q: input: %w", f.Name, err)
		}
		return tool, b.String(), nil
	case len(f.Params) == 1:
		v, ok := c.Params[f.Params[0].Name]
		if !ok {
			return tool, "", nil
		}
		if s, isString := v.(string); isString {
			return tool, s, nil
		}
		return tool, fmt.Sprint(v), nil
	default:
		b, err := json.Marshal(c.Params)
		if err != nil {
			return "", "", fmt.Errorf("function %q: params: %w", f.Name, err)
		}
		return tool, string(b), nil
	}
}
