package yamlpos

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

type inner struct {
	Size int `yaml:"size"`
}

// word refuses anything but a scalar, as the tools file's templates do.
type word struct{ s string }

func (w *word) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return errors.New("a word must be a string")
	}
	w.s = n.Value
	return nil
}

type sample struct {
	Name    string         `yaml:"name"`
	Timeout time.Duration  `yaml:"timeout"`
	Retries int            `yaml:"retries"`
	Ratio   float64        `yaml:"ratio"`
	On      bool           `yaml:"on"`
	Tags    []string       `yaml:"tags"`
	Limits  map[string]int `yaml:"limits"`
	Word    *word          `yaml:"word"`
	Inner   inner          `yaml:"inner"`
	Other   *inner         `yaml:"other"`
	Any     any            `yaml:"any"`
}

func TestDecode(t *testing.T) {
	data, err := os.ReadFile("testdata/good.yaml")
	if err != nil {
		t.Fatal(err)
	}
	s := sample{Retries: 9}
	if err := Decode("good.yaml", data, &s); err != nil {
		t.Fatal(err)
	}
	if s.Name != "example" || s.Timeout != 90*time.Second || s.Retries != 3 || !s.On || len(s.Tags) != 2 || s.Limits["b"] != 2 || s.Word.s != "hello" || s.Inner.Size != 4 || s.Other == nil || s.Other.Size != 4 {
		t.Errorf("decoded %+v", s)
	}
	if err := Decode("empty.yaml", []byte("# nothing\n"), &s); err != nil || s.Name != "example" {
		t.Errorf("an empty document: %v, %+v", err, s)
	}
}

func TestDecodeErrors(t *testing.T) {
	data, err := os.ReadFile("testdata/bad.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var s sample
	err = Decode("bad.yaml", data, &s)
	want := []string{
		`bad.yaml:1:7: name: expected a string, got a list`,
		`bad.yaml:2:10: timeout: expected a duration (such as 10s or 1m30s), got "abc"`,
		`bad.yaml:3:10: retries: expected an integer, got "many"`,
		`bad.yaml:4:8: ratio: expected a number, got "half"`,
		`bad.yaml:5:5: on: expected true or false, got "maybe"`,
		`bad.yaml:6:7: tags: expected a list, got "scalar"`,
		`bad.yaml:7:9: limits: expected a mapping, got a list`,
		`bad.yaml:8:7: word: a word must be a string`,
		`bad.yaml:10:3: unknown field "sise" in inner (did you mean "size"?)`,
	}
	if err == nil || err.Error() != strings.Join(want, "\n") {
		t.Errorf("errors:\n%v\nwant\n%s", err, strings.Join(want, "\n"))
	}
	var e *Error
	if !errors.As(err, &e) || e.File != "bad.yaml" || e.Line != 1 || e.Col != 7 {
		t.Errorf("errors.As: %#v", e)
	}
}

func TestDecodeNodeNamesThePath(t *testing.T) {
	doc, err := Parse("t.yaml", []byte("list:\n  - {size: big}\n"))
	if err != nil {
		t.Fatal(err)
	}
	var in inner
	err = DecodeNode("t.yaml", doc.Content[1].Content[0], &in, "list[0]")
	if err == nil || err.Error() != `t.yaml:2:12: list[0].size: expected an integer, got "big"` {
		t.Errorf("err = %v", err)
	}
}

func TestSyntaxError(t *testing.T) {
	var s sample
	err := Decode("s.yaml", []byte("name: [unclosed\n"), &s)
	var e *Error
	if !errors.As(err, &e) || e.File != "s.yaml" || e.Line == 0 {
		t.Errorf("err = %v", err)
	}
}

// Aliases of aliases expand exponentially; the check stops instead of walking
// them all.
func TestAliasBomb(t *testing.T) {
	data, err := os.ReadFile("testdata/aliases.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		A []string
		B [][]string
		C [][][]string
		D [][][][]string
		E [][][][][]string
		F [][][][][][]string
	}
	err = Decode("aliases.yaml", data, &v)
	if err == nil {
		t.Fatal("an alias bomb decoded")
	}
	if !strings.HasPrefix(err.Error(), "aliases.yaml:") || !strings.Contains(err.Error(), "the document expands past") {
		t.Errorf("err = %v", err)
	}
}

func FuzzDecode(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/*.yaml")
	for _, p := range seeds {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b))
	}
	f.Fuzz(func(t *testing.T, s string) {
		var v sample
		err := Decode("f.yaml", []byte(s), &v)
		if err != nil && !strings.HasPrefix(err.Error(), "f.yaml") {
			t.Fatalf("error %q does not name the file", err)
		}
	})
}
