package open

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/rewoo-agent/agent/engine"
	"github.com/rewoo-agent/agent/engine/batch"
	"github.com/rewoo-agent/agent/engine/gptq"
	"github.com/rewoo-agent/agent/engine/gptq/gptqtest"
	"github.com/rewoo-agent/agent/engine/hub"
	"github.com/rewoo-agent/agent/internal/fixtures"
)

// randomModel writes a small random checkpoint; with tok, the LLaMA tokenizer of
// engine/tokenizer's testdata beside it (32000 ids).
func randomModel(t *testing.T, tok bool) string {
	t.Helper()
	dir := t.TempDir()
	cfg := gptq.Config{Hidden: 64, Intermediate: 128, Layers: 1, Heads: 2, KVHeads: 2, Vocab: 32000,
		Context: 48, NormEps: 1e-5, RopeTheta: 10000, BOS: 1, EOS: 2}
	spec := gptqtest.RandomSpec{Config: cfg, Quant: gptq.Quantization{Bits: 4, GroupSize: 32, Format: "gptq"}, Seed: 1}
	if err := gptqtest.WriteRandom(dir, spec); err != nil {
		t.Fatal(err)
	}
	if tok {
		gz, err := os.ReadFile(filepath.Join("..", "tokenizer", "testdata", "tokenizer.json.gz"))
		if err != nil {
			t.Fatal(err)
		}
		r, err := gzip.NewReader(bytes.NewReader(gz))
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(r)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "tokenizer.json"), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestCheck(t *testing.T) {
	tests := []struct {
		spec Spec
		want error // nil: valid; errNotNil: some error
	}{
		{Spec{Model: "m"}, nil},
		{Spec{URL: "http://x"}, nil},
		{Spec{}, ErrNoEngine},
		{Spec{Model: "m", URL: "http://x"}, ErrBothEngines},
		{Spec{Model: "m", Device: "cuda:1"}, nil},
		{Spec{Model: "m", Device: "cuda:x"}, errNotNil},
	}
	for _, tt := range tests {
		err := tt.spec.Check()
		switch {
		case tt.want == errNotNil && err == nil, tt.want != errNotNil && !errors.Is(err, tt.want):
			t.Errorf("%+v: Check() = %v, want %v", tt.spec, err, tt.want)
		}
	}
}

var errNotNil = errors.New("any error")

func TestParseDevice(t *testing.T) {
	tests := []struct {
		in      string
		name    string
		ordinal int
		ok      bool
	}{
		{"", "", 0, true},
		{"auto", "", 0, true},
		{"cpu", "cpu", 0, true},
		{"cuda", "cuda", 0, true},
		{"cuda:3", "cuda", 3, true},
		{"cuda:-1", "", 0, false},
		{"cuda:", "", 0, false},
		{":1", "", 0, false},
	}
	for _, tt := range tests {
		name, n, err := ParseDevice(tt.in)
		if (err == nil) != tt.ok || name != tt.name || n != tt.ordinal {
			t.Errorf("ParseDevice(%q) = %q, %d, %v; want %q, %d, ok %v", tt.in, name, n, err, tt.name, tt.ordinal, tt.ok)
		}
	}
}

// TestMissingFolder: a model folder that is not there is reported as that, not
// as a missing tokenizer (the tokenizer is looked for after the folder).
func TestMissingFolder(t *testing.T) {
	empty := t.TempDir()
	for _, dir := range []string{"/nonexistent", filepath.Join(empty, "nope"), empty} {
		_, err := Model(context.Background(), Spec{Model: dir})
		if !errors.Is(err, hub.ErrNoFolder) || strings.Contains(err.Error(), "tokenizer") {
			t.Errorf("Model(%s): %v, want ErrNoFolder and no word of a tokenizer", dir, err)
		}
	}
}

func TestModel(t *testing.T) {
	dir := randomModel(t, true)
	var progress bytes.Buffer
	m, err := Model(context.Background(), Spec{Model: dir, Device: "cpu", Progress: &progress})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if m.Dir != dir || m.Tokenizer == nil || m.Model.BackendName() != "cpu" {
		t.Errorf("loaded %s with tokenizer %v on %s", m.Dir, m.Tokenizer != nil, m.Model.BackendName())
	}
	if !strings.Contains(progress.String(), "100%") {
		t.Errorf("progress %q does not reach 100%%", progress.String())
	}
	if _, err := Model(context.Background(), Spec{Model: dir, Device: "tpu"}); err == nil {
		t.Error("an unknown device loaded")
	}

	bare := randomModel(t, false)
	if _, err := Model(context.Background(), Spec{Model: bare}); err == nil || !strings.Contains(err.Error(), "--tokenizer") {
		t.Errorf("a folder without a tokenizer: %v, want advice to give one", err)
	}
	ids, err := Model(context.Background(), Spec{Model: bare, IDsOnly: true, Progress: io.Discard})
	if err != nil || ids.Tokenizer != nil {
		t.Fatalf("IDsOnly: %v", err)
	}
	ids.Close()
}

// TestLazy: nothing loads until the first generation; a lazy local model counts
// tokens (with its tokenizer alone before loading, with the generator after) the
// same way, and a lazy server is no TokenCounter, as the client is none.
func TestLazy(t *testing.T) {
	if NewLazy(Spec{}) != nil || NewLazy(Spec{}).LLM() != nil {
		t.Fatal("a spec with no engine gave a lazy engine")
	}
	dir := randomModel(t, true)
	var progress bytes.Buffer
	l := NewLazy(Spec{Model: dir, Device: "cpu", Progress: &progress})
	defer l.Close()
	tc, ok := l.LLM().(engine.TokenCounter)
	if !ok {
		t.Fatal("a lazy local model is no TokenCounter")
	}
	before, err := tc.CountTokens("Hello world")
	if err != nil || before < 3 || tc.ContextLength() != 48 {
		t.Fatalf("before loading: %d tokens (%v), context %d", before, err, tc.ContextLength())
	}
	if progress.Len() != 0 {
		t.Fatalf("counting loaded the model: %q", progress.String())
	}
	res, err := l.LLM().Generate(context.Background(), engine.Request{Prompt: "Hi", MaxTokens: 2}, nil)
	if err != nil || res.Tokens == 0 {
		t.Fatalf("generate: %+v, %v", res, err)
	}
	after, err := tc.CountTokens("Hello world")
	if err != nil || after != before || tc.ContextLength() != 48 {
		t.Errorf("after loading: %d tokens (%v), context %d; want %d, 48", after, err, tc.ContextLength(), before)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Load(context.Background()); err != nil {
		t.Errorf("Load after a load and Close: %v, want the load's nil", err)
	}

	srv := httptest.NewServer(http.NotFoundHandler())
	defer srv.Close()
	remote := NewLazy(Spec{URL: srv.URL})
	if _, ok := remote.LLM().(engine.TokenCounter); ok {
		t.Error("a lazy server counts tokens, its client does not")
	}
	closed := NewLazy(Spec{Model: dir})
	closed.Close()
	if _, err := closed.LLM().Generate(context.Background(), engine.Request{Prompt: "x"}, nil); !errors.Is(err, ErrClosed) {
		t.Errorf("generate after Close: %v, want ErrClosed", err)
	}
}

func TestTokenizer(t *testing.T) {
	ctx := context.Background()
	dir := randomModel(t, true)
	file := filepath.Join(dir, "tokenizer.json")
	for _, s := range []Spec{{Tokenizer: file}, {Tokenizer: dir}, {Model: dir}, {Model: "/elsewhere", Tokenizer: file}} {
		tok, err := Tokenizer(ctx, s)
		if err != nil || tok.VocabSize() != 32000 {
			t.Errorf("Tokenizer(%+v): %v", s, err)
		}
	}
	if _, err := Tokenizer(ctx, Spec{}); err == nil || !strings.Contains(err.Error(), "--tokenizer") {
		t.Errorf("no tokenizer and no model: %v", err)
	}
	if _, err := Tokenizer(ctx, Spec{Model: "/nonexistent"}); !errors.Is(err, hub.ErrNoFolder) {
		t.Errorf("a missing model folder: %v, want ErrNoFolder", err)
	}
	if _, err := Tokenizer(ctx, Spec{Model: randomModel(t, false)}); err == nil || !strings.Contains(err.Error(), "--tokenizer") {
		t.Errorf("a model folder without a tokenizer: %v", err)
	}
}

func TestSpecName(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "my-model")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		spec Spec
		want string
	}{
		{Spec{URL: "http://x", ServerModel: "served"}, "served"},
		{Spec{URL: "http://x"}, "default"},
		{Spec{Model: dir + "/"}, "my-model"},
		{Spec{Model: "TheBloke/airoboros-GPTQ"}, "TheBloke/airoboros-GPTQ"},
	} {
		if got := tt.spec.Name(); got != tt.want {
			t.Errorf("%+v: Name() = %q, want %q", tt.spec, got, tt.want)
		}
	}
}

// TestLLMBatched: a local model on the CPU is served by the continuous-batching
// scheduler, which generates what the one-sequence generator of Model does.
func TestLLMBatched(t *testing.T) {
	dir := randomModel(t, true)
	ctx := context.Background()
	llm, closeLLM, err := LLM(ctx, Spec{Model: dir, Device: "cpu"})
	if err != nil {
		t.Fatal(err)
	}
	defer closeLLM()
	if _, ok := llm.(*batch.Scheduler); !ok {
		t.Fatalf("LLM on the CPU is a %T, want the batching scheduler", llm)
	}
	m, err := Model(ctx, Spec{Model: dir, Device: "cpu"})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	req := engine.Request{Prompt: "Hello there", MaxTokens: 8}
	got, err := llm.Generate(ctx, req, nil)
	if err != nil {
		t.Fatal(err)
	}
	want, err := m.Generator.Generate(ctx, req, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got.Text != want.Text || got.Tokens != want.Tokens || got.Stop != want.Stop {
		t.Errorf("scheduler %q (%d, %s), generator %q (%d, %s)", got.Text, got.Tokens, got.Stop, want.Text, want.Tokens, want.Stop)
	}
	if _, ok := llm.(engine.TokenCounter); !ok {
		t.Error("the scheduler does not count tokens")
	}
}

// TestSpeculate: Spec.Speculate turns speculative decoding on in the model's
// generator, by prompt lookup or with a draft model (here the checkpoint
// itself, whose every draft is kept), with the plain generator's tokens; a
// draft model of another vocabulary, or a negative count, is refused; the
// batching scheduler says it does not speculate.
func TestSpeculate(t *testing.T) {
	dir := randomModel(t, true)
	ctx := context.Background()
	plain, err := Model(ctx, Spec{Model: dir, Device: "cpu"})
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	prompt := []int{1, 7, 8, 9, 7, 8, 9, 7, 8}
	req := engine.Request{MaxTokens: 24}
	want, wantIDs, err := plain.Generator.GenerateIDs(ctx, prompt, req, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, draft := range []string{"", dir} {
		m, err := Model(ctx, Spec{Model: dir, Device: "cpu", Speculate: 3, DraftModel: draft})
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		if (m.Draft != nil) != (draft != "") {
			t.Errorf("draft model %q: loaded %v", draft, m.Draft != nil)
		}
		got, ids, err := m.Generator.GenerateIDs(ctx, prompt, req, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(ids, wantIDs) || got.Text != want.Text {
			t.Errorf("draft model %q: %v, plain %v", draft, ids, wantIDs)
		}
		if draft != "" && (got.Drafted == 0 || got.Steps > (got.Tokens+2)/4+1) {
			t.Errorf("the model drafting for itself: %d tokens in %d steps, %d of %d drafts kept", got.Tokens, got.Steps, got.Accepted, got.Drafted)
		}
	}
	other := fixtures.GPTQ("tiny-4bit-128g-actorder") // 1024 ids, the model 32000
	if _, err := Model(ctx, Spec{Model: dir, Device: "cpu", Speculate: 3, DraftModel: other}); err == nil || !strings.Contains(err.Error(), "vocabulary") {
		t.Errorf("a draft model of another vocabulary: %v", err)
	}
	if _, err := Model(ctx, Spec{Model: dir, Device: "cpu", Speculate: -1}); err == nil {
		t.Error("speculate -1 accepted")
	}
	var progress bytes.Buffer
	_, closeLLM, err := LLM(ctx, Spec{Model: dir, Device: "cpu", Speculate: 3, Progress: &progress})
	if err != nil {
		t.Fatal(err)
	}
	closeLLM()
	if !strings.Contains(progress.String(), "speculative decoding is off") {
		t.Errorf("progress %q does not say the scheduler does not speculate", progress.String())
	}
}
