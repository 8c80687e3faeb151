package tokenizer

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

func TestParseIDs(t *testing.T) {
	tests := []struct {
		in   string
		want []int
		err  string // part of the error; "" for none
	}{
		{"1,2,3", []int{1, 2, 3}, ""},
		{" 1 2\t3\n4\r\n", []int{1, 2, 3, 4}, ""},
		{"1,,2, 3,", []int{1, 2, 3}, ""},
		{`{"ids":[1,2,3]}`, []int{1, 2, 3}, ""},
		{"[0, 31999]", []int{0, 31999}, ""},
		{"", nil, ""},
		{" , ", nil, ""},
		{"[]", []int{}, ""},
		{"1,x,3", nil, `token 2, "x", is not an integer id`},
		{"1,-2", nil, "token 2 is -2"},
		{"[1,-2]", nil, "token 2 is -2"},
		{`{"ids":[1.5]}`, nil, `not {"ids":[...]}`},
		{`{"other":[1]}`, nil, `not {"ids":[...]}`},
		{"[1,", nil, "not a JSON array"},
		{"99999999999999999999999", nil, "is not an integer id"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseIDs(tt.in)
			if tt.err == "" {
				if err != nil || !slices.Equal(got, tt.want) {
					t.Fatalf("ParseIDs(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
				}
				return
			}
			if !errors.Is(err, ErrIDList) || !strings.Contains(err.Error(), tt.err) {
				t.Fatalf("ParseIDs(%q) = %v, %v; want an ErrIDList saying %q", tt.in, got, err, tt.err)
			}
		})
	}
}

// FuzzParseIDs: no input panics; what is accepted is a list of ids >= 0 that
// reads back the same from its comma-separated form.
func FuzzParseIDs(f *testing.F) {
	seeds, err := filepath.Glob(filepath.Join("testdata", "ids", "*"))
	if err != nil || len(seeds) == 0 {
		f.Fatalf("no seeds in testdata/ids: %v", err)
	}
	for _, p := range seeds {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b))
	}
	f.Fuzz(func(t *testing.T, s string) {
		ids, err := ParseIDs(s)
		if err != nil {
			if !errors.Is(err, ErrIDList) {
				t.Fatalf("error %v is not an ErrIDList", err)
			}
			return
		}
		parts := make([]string, len(ids))
		for i, id := range ids {
			if id < 0 {
				t.Fatalf("accepted id %d", id)
			}
			parts[i] = strconv.Itoa(id)
		}
		back, err := ParseIDs(strings.Join(parts, ","))
		if err != nil || !slices.Equal(back, ids) {
			t.Fatalf("%v reads back as %v, %v", ids, back, err)
		}
	})
}

// TestFormatIDs: ParseIDs reads back what FormatIDs writes.
func TestFormatIDs(t *testing.T) {
	for _, tt := range []struct {
		ids  []int
		want string
	}{
		{nil, ""},
		{[]int{0}, "0"},
		{[]int{1, 15043, 2}, "1 15043 2"},
	} {
		got := FormatIDs(tt.ids)
		if got != tt.want {
			t.Errorf("FormatIDs(%v) = %q, want %q", tt.ids, got, tt.want)
		}
		if back, err := ParseIDs(got); err != nil || !slices.Equal(back, tt.ids) {
			t.Errorf("ParseIDs(%q) = %v, %v; want %v", got, back, err, tt.ids)
		}
	}
}
