package main

import (
	"github.com/rewoo-agent/agent/internal/fixtures"

	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// llamaTokenizer is the fixtures' LLaMA tokenizer.model.
func llamaTokenizer(t *testing.T) string { return fixtures.Tokenizer("tokenizer.model") }

func TestTokenizeCommands(t *testing.T) {
	model := llamaTokenizer(t)
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.model")
	if err := os.WriteFile(bad, []byte("not a model"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		args     []string
		in       string
		want     string // stdout
		wantErr  string // "" if none
		wantCode int    // exit code of the error, 1 if not an exitError
	}{
		{"tokenize", []string{"tokenize", "--tokenizer", model}, "Hello world", "15043 3186\n", "", 0},
		{"tokenize keeps newline", []string{"tokenize", "--tokenizer", model}, "Hello\n", "15043 13\n", "", 0},
		{"tokenize json", []string{"tokenize", "--tokenizer", model, "--json"}, "naïve 🚀", `{"ids":[1055,30085,345,29871,243,162,157,131]}` + "\n", "", 0},
		{"tokenize empty", []string{"tokenize", "--tokenizer", model}, "", "\n", "", 0},
		{"tokenize empty json", []string{"tokenize", "--tokenizer", model, "--json"}, "", `{"ids":[]}` + "\n", "", 0},
		{"tokenize folder", []string{"tokenize", "--tokenizer", filepath.Dir(model)}, "<s>", "529 29879 29958\n", "", 0},
		{"detokenize commas", []string{"detokenize", "--tokenizer", model}, "1, 15043,3186,2\n", "Hello world", "", 0},
		{"detokenize spaces", []string{"detokenize", "--tokenizer", model}, " 15043 3186\t13 ", "Hello world\n", "", 0},
		{"detokenize json", []string{"detokenize", "--tokenizer", model, "--json"}, `{"ids":[1055,30085,345]}`, `{"text":"naïve"}` + "\n", "", 0},
		{"detokenize array", []string{"detokenize", "--tokenizer", model}, `[243, 162, 157, 131]`, "🚀", "", 0},
		{"detokenize nothing", []string{"detokenize", "--tokenizer", model}, "\n", "", "", 0},
		{"detokenize not a number", []string{"detokenize", "--tokenizer", model}, "1,x,2", "", `token 2, "x", is not an integer id`, 1},
		{"detokenize out of range", []string{"detokenize", "--tokenizer", model}, "15043 32000", "", "token 2 is id 32000, but the vocabulary has 32000 ids (0 to 31999)", 1},
		{"detokenize negative", []string{"detokenize", "--tokenizer", model}, "-1", "", "token 1 is -1, and ids are not negative", 1},
		{"detokenize bad json", []string{"detokenize", "--tokenizer", model}, `{"ids":["a"]}`, "", `not {"ids":[...]}`, 1},
		{"no tokenizer flag", []string{"tokenize"}, "x", "", "need --tokenizer", 2},
		{"stray argument", []string{"detokenize", "--tokenizer", model, "extra"}, "1", "", "unexpected argument", 2},
		{"bad flag", []string{"tokenize", "--nope"}, "", "", "unknown flag: --nope", 2},
		{"missing file", []string{"tokenize", "--tokenizer", filepath.Join(dir, "none.model")}, "x", "", "no such file", 1},
		{"bad file", []string{"tokenize", "--tokenizer", bad}, "x", "", bad + ": invalid tokenizer file", 1},
		{"folder without tokenizer", []string{"detokenize", "--tokenizer", dir}, "1", "", "neither tokenizer.model nor tokenizer.json", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			err := run(context.Background(), stdio{strings.NewReader(tt.in), &out, &errb}, tt.args)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("error %v\n%s", err, errb.String())
				}
				if out.String() != tt.want {
					t.Errorf("stdout %q, want %q", out.String(), tt.want)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
			}
			code := 1
			var ee exitError
			if errors.As(err, &ee) {
				code = ee.code
			}
			if code != tt.wantCode {
				t.Errorf("exit code %d, want %d", code, tt.wantCode)
			}
		})
	}
}

// TestTokenizeRoundTrip: detokenize(tokenize(text)) is the text, through both
// output forms.
func TestTokenizeRoundTrip(t *testing.T) {
	model := llamaTokenizer(t)
	text := "Plan: search.\n:evidence0: = DuckDuckGo[東京 🚀]\n  indented\ttab "
	for _, form := range [][]string{nil, {"--json"}} {
		var ids, back, errb bytes.Buffer
		if err := run(context.Background(), stdio{strings.NewReader(text), &ids, &errb}, append([]string{"tokenize", "--tokenizer", model}, form...)); err != nil {
			t.Fatal(err, errb.String())
		}
		if err := run(context.Background(), stdio{&ids, &back, &errb}, []string{"detokenize", "--tokenizer", model}); err != nil {
			t.Fatal(err, errb.String())
		}
		if back.String() != text {
			t.Errorf("%v: round trip gave %q", form, back.String())
		}
	}
}

// TestTokenizeInterrupted: a cancelled context ends a read from a stdin that
// never closes.
func TestTokenizeInterrupted(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	defer r.Close()
	var out, errb bytes.Buffer
	err = run(ctx, stdio{r, &out, &errb}, []string{"tokenize", "--tokenizer", llamaTokenizer(t)})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want context.Canceled", err)
	}
}
