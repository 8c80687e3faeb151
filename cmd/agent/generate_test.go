package main

import (
	"github.com/rewoo-agent/agent/internal/fixtures"

	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/rewoo-agent/agent/engine/openai"
	"github.com/rewoo-agent/agent/engine/safetensors"
)

func gptqFixture(name string) string { return fixtures.GPTQ(name) }

// referenceTensor reads a little-endian 4-byte tensor of a fixture's reference file.
func referenceTensor[T int32 | float32](t *testing.T, dir, name string) []T {
	t.Helper()
	ref, err := safetensors.Open(filepath.Join(dir, "reference.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer ref.Close()
	tt, err := ref.Tensor(name)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]T, len(tt.Data)/4)
	for i := range out {
		bits := binary.LittleEndian.Uint32(tt.Data[4*i:])
		switch p := any(&out[i]).(type) {
		case *int32:
			*p = int32(bits)
		case *float32:
			*p = math.Float32frombits(bits)
		}
	}
	return out
}

func runGenerateCmd(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errb bytes.Buffer
	err = run(context.Background(), stdio{strings.NewReader(""), &out, &errb}, append([]string{"generate"}, args...))
	return out.String(), errb.String(), err
}

func idList[T int32 | int](ids []T) string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = fmt.Sprint(id)
	}
	return strings.Join(s, ",")
}

// TestGenerateGreedyMatchesReference runs the fixtures' prompts greedily and compares
// the ids with transformers' greedy continuation, up to the first step where the top
// two logits are too close for float rounding to decide.
func TestGenerateGreedyMatchesReference(t *testing.T) {
	for _, name := range []string{"tiny-4bit-128g-actorder", "tiny-4bit-nogroup-actorder"} {
		t.Run(name, func(t *testing.T) {
			dir := gptqFixture(name)
			prompt := referenceTensor[int32](t, dir, "input_ids")
			want := referenceTensor[int32](t, dir, "greedy_ids")
			gaps := referenceTensor[float32](t, dir, "greedy_gaps")
			stdout, stderr, err := runGenerateCmd(t, "--model", dir, "--ids", idList(prompt),
				"--max-tokens", fmt.Sprint(len(want)), "--json")
			if err != nil {
				t.Fatalf("%v\n%s", err, stderr)
			}
			var res struct {
				IDs    []int
				Text   string
				Stop   string
				Tokens int
			}
			if err := json.Unmarshal([]byte(stdout), &res); err != nil {
				t.Fatalf("%v: %s", err, stdout)
			}
			if len(res.IDs) != len(want) || res.Stop != "length" || res.Tokens != len(want) {
				t.Fatalf("%d ids, stop %q, want %d and length", len(res.IDs), res.Stop, len(want))
			}
			compared := 0
			for i, id := range res.IDs {
				if gaps[i] < 0.01 {
					break
				}
				compared++
				if id != int(want[i]) {
					t.Fatalf("ids %v, reference %v: differ at %d", res.IDs, want, i)
				}
			}
			if compared < 15 {
				t.Errorf("compared only %d ids", compared)
			}
		})
	}
}

func TestGenerateSeeded(t *testing.T) {
	dir := gptqFixture("tiny-4bit-128g-actorder")
	args := []string{"--model", dir, "--ids", "1,5,6,7", "--max-tokens", "12", "--json",
		"--temperature", "1.5", "--top-k", "50", "--top-p", "0.95", "--repetition-penalty", "1.15", "--seed"}
	var outs []string
	for _, seed := range []string{"7", "7", "8"} {
		stdout, stderr, err := runGenerateCmd(t, append(args, seed)...)
		if err != nil {
			t.Fatalf("%v\n%s", err, stderr)
		}
		outs = append(outs, stdout)
	}
	if outs[0] != outs[1] {
		t.Errorf("seed 7 twice: %s and %s", outs[0], outs[1])
	}
	if outs[0] == outs[2] {
		t.Errorf("seeds 7 and 8 agree: %s", outs[0])
	}
}

func TestGenerateRemote(t *testing.T) {
	t.Setenv(openai.APIKeyEnv, "sk-cmd")
	var auth, body string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth = r.Header.Get("Authorization")
		b, _ := io.ReadAll(r.Body)
		body = string(b)
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, `data: {"choices":[{"text":" Paris"}]}`+"\n\n")
		io.WriteString(w, `data: {"choices":[{"text":". USER:","finish_reason":null}]}`+"\n\n")
		io.WriteString(w, `data: {"choices":[{"text":" more","finish_reason":"length"}]}`+"\n\n")
		io.WriteString(w, "data: [DONE]\n\n")
	}))
	defer srv.Close()
	stdout, stderr, err := runGenerateCmd(t, "--llm-url", srv.URL, "--llm-model", "m", "--prompt", "Capital?",
		"--stop", "USER:", "--temperature", "0.7", "--seed", "3")
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	if stdout != " Paris. \n" {
		t.Errorf("stdout %q", stdout)
	}
	if auth != "Bearer sk-cmd" || !strings.Contains(body, `"prompt":"Capital?"`) || !strings.Contains(body, `"stop":["USER:"]`) ||
		!strings.Contains(body, `"temperature":0.7`) || !strings.Contains(body, `"seed":3`) || !strings.Contains(body, `"max_tokens":256`) {
		t.Errorf("auth %q body %s", auth, body)
	}
	stdout, _, err = runGenerateCmd(t, "--llm-url", srv.URL, "--llm-model", "m", "--prompt", "Capital?", "--json")
	if err != nil || stdout != `{"text":" Paris. USER: more","stop":"length","prompt_tokens":0,"tokens":3}`+"\n" {
		t.Errorf("--json printed %q, %v", stdout, err)
	}
}

func TestGenerateErrors(t *testing.T) {
	dir := gptqFixture("tiny-4bit-128g-actorder")
	tests := []struct {
		args []string
		code int // 0: any failure other than usage
		want string
	}{
		{[]string{}, 2, "exactly one of --model"},
		{[]string{"--model", dir}, 2, "exactly one of --prompt"},
		{[]string{"--model", dir, "--llm-url", "http://x", "--prompt", "a"}, 2, "not both"},
		{[]string{"--model", dir, "--prompt", "a", "--ids", "1"}, 2, "exactly one of --prompt"},
		{[]string{"--llm-url", "http://x", "--ids", "1"}, 2, "--ids needs a local"},
		{[]string{"--model", dir, "--ids", "1,x"}, 2, "bad token id"},
		{[]string{"--model", dir, "--ids", "1", "extra"}, 2, "unexpected argument"},
		{[]string{"--llm-url", "localhost:1", "--prompt", "a"}, 2, "http://"},
		{[]string{"--model", dir, "--prompt", "a"}, 0, "tokenizer"},
		{[]string{"--model", dir, "--ids", "1,99999"}, 0, "outside the vocabulary"},
		// Bad sampling settings are refused before the model is loaded.
		{[]string{"--model", filepath.Join(dir, "missing"), "--ids", "1", "--top-p", "2"}, 2, "top-p 2: must be in [0, 1]"},
		{[]string{"--model", filepath.Join(dir, "missing"), "--ids", "1", "--temperature", "-1"}, 2, "temperature -1"},
		{[]string{"--model", filepath.Join(dir, "missing"), "--ids", "1", "--top-k", "-3"}, 2, "top-k -3"},
		{[]string{"--model", filepath.Join(dir, "missing"), "--ids", "1", "--repetition-penalty", "-1"}, 2, "repetition penalty -1"},
		{[]string{"--model", filepath.Join(dir, "missing"), "--ids", "1", "--max-tokens", "-1"}, 2, "--max-tokens -1"},
		{[]string{"--model", filepath.Join(dir, "missing"), "--ids", "1"}, 0, "missing"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			_, _, err := runGenerateCmd(t, tt.args...)
			var ee exitError
			isUsage := errors.As(err, &ee) && ee.code == 2
			if err == nil || !strings.Contains(err.Error(), tt.want) || isUsage != (tt.code == 2) {
				t.Errorf("error %v (usage %v), want %q with code %d", err, isUsage, tt.want, tt.code)
			}
		})
	}
}

func TestGenerateContextLength(t *testing.T) {
	dir := gptqFixture("tiny-4bit-128g-actorder")
	ids := slices.Repeat([]int{5}, 2048)
	_, _, err := runGenerateCmd(t, "--model", dir, "--ids", idList(ids))
	if err == nil || !strings.Contains(err.Error(), "context length") {
		t.Errorf("error %v, want the context length error", err)
	}
}

// TestGenerateIDsOnlyPrintsIDs: a folder without a tokenizer has no text to stream,
// so the plain output is the generated ids, the same ones --json gives.
func TestGenerateIDsOnlyPrintsIDs(t *testing.T) {
	dir := gptqFixture("tiny-4bit-128g-actorder")
	prompt := idList(referenceTensor[int32](t, dir, "input_ids"))
	plain, stderr, err := runGenerateCmd(t, "--model", dir, "--ids", prompt, "--max-tokens", "4")
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	js, stderr, err := runGenerateCmd(t, "--model", dir, "--ids", prompt, "--max-tokens", "4", "--json")
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	var res struct{ IDs []int }
	if err := json.Unmarshal([]byte(js), &res); err != nil {
		t.Fatal(err)
	}
	if want := strings.Trim(fmt.Sprint(res.IDs), "[]") + "\n"; len(res.IDs) != 4 || plain != want {
		t.Fatalf("plain output %q, want the ids %q", plain, want)
	}
}

// TestGenerateSpeculate: --speculate with --draft-model (the fixture drafting
// for itself) gives plain generation's ids, and --json and stderr report the
// drafts.
func TestGenerateSpeculate(t *testing.T) {
	dir := gptqFixture("tiny-4bit-128g-actorder")
	args := []string{"--model", dir, "--ids", "1,5,6,7,5,6", "--max-tokens", "16", "--json"}
	plain, stderr, err := runGenerateCmd(t, args...)
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	spec, stderr, err := runGenerateCmd(t, append(args, "--speculate", "3", "--draft-model", dir)...)
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	var p, s struct {
		IDs                      []int
		Steps, Drafted, Accepted int
	}
	if err := json.Unmarshal([]byte(plain), &p); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(spec), &s); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(s.IDs, p.IDs) || s.Drafted == 0 || s.Accepted == 0 || s.Steps >= p.Steps {
		t.Errorf("speculative %+v, plain %+v: want the same ids in fewer steps", s, p)
	}
	if !strings.Contains(stderr, "drafts kept") {
		t.Errorf("stderr %q does not report the drafts", stderr)
	}
}
