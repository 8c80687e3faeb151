// Package open is the one way to open a language model: a Spec (a model folder or
// hub reference with its tokenizer and device, or an OpenAI-compatible server)
// gives an engine.LLM that keeps every optional capability of the engine behind
// it (engine.TokenCounter), now (LLM) or on first use (NewLazy), and the loaded
// model itself for commands that drive it (Model).
//
// The compute backends are registered here, in one place: the CPU backend always,
// the CUDA backend in builds with the cuda tag.
package open

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/term"

	"github.com/rewoo-agent/agent/engine"
	"github.com/rewoo-agent/agent/engine/batch"
	"github.com/rewoo-agent/agent/engine/generate"
	"github.com/rewoo-agent/agent/engine/hub"
	"github.com/rewoo-agent/agent/engine/llama"
	"github.com/rewoo-agent/agent/engine/openai"
	"github.com/rewoo-agent/agent/engine/speculate"
	"github.com/rewoo-agent/agent/engine/tokenizer"
)

// Spec says which language model to open. Exactly one of Model and URL is set.
type Spec struct {
	// Model is a GPTQ checkpoint folder or a hub reference org/name[:branch].
	Model string
	// Tokenizer is a tokenizer.model or tokenizer.json; "" means the model
	// folder's.
	Tokenizer string
	// Device is auto (the backend registry's choice), cpu, cuda or cuda:N.
	Device string
	// Pull downloads a hub reference that is not in the cache yet.
	Pull bool
	// IDsOnly lets a model folder without a tokenizer load, for callers that feed
	// ids and want ids back (Model only).
	IDsOnly bool

	// URL is an OpenAI-compatible server, ServerModel the model's name there (""
	// means the first it lists), APIKey its key, ServerAPI its endpoint ("" is
	// openai.APIAuto), ServerGrammar how it gets the plan grammar ("" is
	// openai.GrammarAuto).
	URL, ServerModel, APIKey string
	ServerAPI                openai.API
	ServerGrammar            openai.Grammar

	// Speculate is the draft tokens per step of speculative decoding, 0 for
	// none; DraftModel a smaller checkpoint folder (or hub reference) of the
	// same vocabulary that drafts them, "" for prompt lookup. Only the
	// one-sequence generator speculates (see LLM).
	Speculate  int
	DraftModel string

	// MaxSequences is the most sequences a local model decodes at once (the
	// continuous-batching scheduler's running slots, 1 to MaxSequences); 0 means
	// DefaultSequences.
	MaxSequences int

	// KVCacheShare is the share of the memory free after the weights that the
	// paged cache takes (llama.Paged.Share); 0 means the backend's KVShare.
	KVCacheShare float64

	// Hub resolves hub references; nil means the client the environment
	// configures (hub.New(os.Getenv)).
	Hub *hub.Client
	// Progress receives loading progress and warnings; nil means none.
	Progress io.Writer
}

// ErrNoEngine is returned when a Spec names neither a model nor a server.
var ErrNoEngine = errors.New("no language model: give --model DIR (a GPTQ checkpoint folder, or a hub reference org/name[:branch]) or --llm-url URL (an OpenAI-compatible server)")

// ErrBothEngines is returned when a Spec names a model and a server.
var ErrBothEngines = errors.New("give either a model folder or a server URL, not both")

// Check reports whether s names exactly one engine.
func (s Spec) Check() error {
	switch {
	case s.Model != "" && s.URL != "":
		return ErrBothEngines
	case s.Model == "" && s.URL == "":
		return ErrNoEngine
	}
	_, _, err := ParseDevice(s.Device)
	return err
}

// Name is the model's name as a server shows it: the folder's name, or the hub
// reference as given, or the remote server's model name ("default" when none).
func (s Spec) Name() string {
	switch {
	case s.URL != "" && s.ServerModel != "":
		return s.ServerModel
	case s.URL != "":
		return "default"
	}
	if fi, err := os.Stat(s.Model); err == nil && fi.IsDir() {
		if abs, err := filepath.Abs(s.Model); err == nil {
			return filepath.Base(abs)
		}
	}
	return s.Model
}

func (s Spec) progress() io.Writer {
	if s.Progress == nil {
		return io.Discard
	}
	return s.Progress
}

// LLM opens the engine s names: the local model, loaded now and served by the
// continuous-batching scheduler (engine/batch) where its backend has a paged
// cache (the CPU backend), by the one-sequence generator elsewhere; or a client
// of the server. close releases the model.
func LLM(ctx context.Context, s Spec) (llm engine.LLM, close func() error, err error) {
	if err := s.Check(); err != nil {
		return nil, nil, err
	}
	if s.URL != "" {
		c, err := s.server()
		if err != nil {
			return nil, nil, err
		}
		return c, func() error { return nil }, nil
	}
	return batched(ctx, s)
}

// Open opens the engine s names for a command that drives a local model
// itself: a server's client (local nil), or the local model loaded with its
// one-sequence generator (Model), which is then llm too.
func Open(ctx context.Context, s Spec) (llm engine.LLM, local *Loaded, close func() error, err error) {
	if err := s.Check(); err != nil {
		return nil, nil, nil, err
	}
	if s.URL != "" {
		c, err := s.server()
		if err != nil {
			return nil, nil, nil, err
		}
		return c, nil, func() error { return nil }, nil
	}
	m, err := Model(ctx, s)
	if err != nil {
		return nil, nil, nil, err
	}
	return m.Generator, m, m.Close, nil
}

// DefaultSequences is how many sequences the engine LLM opens decodes at once
// unless Spec.MaxSequences says otherwise, and MaxSequences the most it takes
// (the decode batches the backends' batch kernels and tests cover).
const (
	DefaultSequences = 16
	MaxSequences     = 64
)

// Sequences is the running slots of the engine s opens for a local model.
func (s Spec) Sequences() int { return cmp.Or(s.MaxSequences, DefaultSequences) }

// batched loads the local model s names with a paged cache and serves it through
// the continuous-batching scheduler (engine/batch), so concurrent calls share
// each step; the CPU and CUDA backends both have engine.PagedBackend. On a backend
// without it the model gets its one-sequence cache and the engine is the
// one-sequence generator, as Model's.
func batched(ctx context.Context, s Spec) (engine.LLM, func() error, error) {
	dir, tok, err := s.resolve(ctx)
	if err != nil {
		return nil, nil, err
	}
	m, err := loadModel(ctx, dir, s.Device, s.progress(), &llama.Paged{Sequences: s.Sequences(), Share: s.KVCacheShare})
	if err != nil {
		return nil, nil, err
	}
	if tok != nil {
		if tv, mv := tok.VocabSize(), m.VocabSize(); tv > mv {
			m.Close()
			return nil, nil, fmt.Errorf("the tokenizer has %d ids but the model in %s only %d", tv, dir, mv)
		}
	}
	if blocks, _ := m.Paged(); blocks == 0 {
		var g *generate.Generator
		if tok == nil {
			cfg := m.Config()
			g = generate.New(m, idsOnlyTokenizer{bos: cfg.BOS, eos: cfg.EOS})
		} else {
			g = generate.New(m, tok)
		}
		draft, err := s.speculate(ctx, g, m)
		if err != nil {
			m.Close()
			return nil, nil, err
		}
		return g, func() error { return closeBoth(m, draft) }, nil
	}
	if s.Speculate > 0 {
		fmt.Fprintf(s.progress(), "speculative decoding is off: the continuous-batching scheduler (the %s backend's engine) decodes token by token\n", m.BackendName())
	}
	var sched *batch.Scheduler
	if tok == nil {
		cfg := m.Config()
		sched, err = batch.New(m, idsOnlyTokenizer{bos: cfg.BOS, eos: cfg.EOS}, batch.Options{MaxSequences: s.Sequences()})
	} else {
		sched, err = batch.New(m, tok, batch.Options{MaxSequences: s.Sequences()})
	}
	if err != nil {
		m.Close()
		return nil, nil, err
	}
	return sched, func() error {
		err := sched.Close()
		if cerr := m.Close(); err == nil {
			err = cerr
		}
		return err
	}, nil
}

func (s Spec) server() (*openai.Client, error) {
	return openai.New(s.URL, openai.Options{Model: s.ServerModel, APIKey: s.APIKey, API: s.ServerAPI, Grammar: s.ServerGrammar})
}

// Loaded is a local model with its generator.
type Loaded struct {
	Dir       string // the folder it was loaded from (a hub reference's snapshot)
	Model     *llama.Model
	Generator *generate.Generator
	// Tokenizer is nil when Spec.IDsOnly let a folder without one load.
	Tokenizer *tokenizer.Tokenizer
	// Draft is the draft model of speculative decoding, nil without one.
	Draft *llama.Model
}

// Close releases the model and its backend, and the draft model's.
func (l *Loaded) Close() error { return closeBoth(l.Model, l.Draft) }

// closeBoth closes m, then draft if not nil.
func closeBoth(m, draft *llama.Model) error {
	err := m.Close()
	if draft != nil {
		if derr := draft.Close(); err == nil {
			err = derr
		}
	}
	return err
}

// speculate turns speculative decoding on in g, the generator of m, as s asks,
// drafting with s.DraftModel, loaded on s's device, or by prompt lookup; it
// returns the draft model, nil when there is none. On the CPU, where each row
// of a step costs most of a step, the draft length adapts (Adaptive); other
// backends read the weights once a step, so every step drafts s.Speculate.
func (s Spec) speculate(ctx context.Context, g *generate.Generator, m *llama.Model) (*llama.Model, error) {
	sp := generate.Speculation{Drafter: speculate.Lookup{}, MaxDraft: s.Speculate, Adaptive: m.BackendName() == "cpu"}
	switch {
	case s.Speculate < 0:
		return nil, fmt.Errorf("speculate %d: must be >= 0 (0 is off)", s.Speculate)
	case s.Speculate == 0:
		return nil, nil
	case s.DraftModel == "":
		return nil, g.Speculate(sp)
	}
	c := s.Hub
	if c == nil {
		c = hub.New(os.Getenv)
	}
	dir, _, err := c.Resolve(ctx, s.DraftModel, s.Pull)
	if err != nil {
		return nil, fmt.Errorf("draft model: %w", err)
	}
	d, err := loadModel(ctx, dir, s.Device, s.progress(), nil)
	if err != nil {
		return nil, fmt.Errorf("draft model: %w", err)
	}
	if dv, mv := d.VocabSize(), m.VocabSize(); dv != mv {
		d.Close()
		return nil, fmt.Errorf("draft model %s: %d ids in its vocabulary, the model %d: they must be the same", dir, dv, mv)
	}
	sp.Drafter = speculate.NewModel(d)
	if err := g.Speculate(sp); err != nil {
		d.Close()
		return nil, err
	}
	return d, nil
}

// Model loads the local model s names on its device.
func Model(ctx context.Context, s Spec) (*Loaded, error) {
	if s.Model == "" {
		return nil, fmt.Errorf("%w (this needs a local model)", ErrNoEngine)
	}
	dir, tok, err := s.resolve(ctx)
	if err != nil {
		return nil, err
	}
	m, err := loadModel(ctx, dir, s.Device, s.progress(), nil)
	if err != nil {
		return nil, err
	}
	l := &Loaded{Dir: dir, Model: m, Tokenizer: tok}
	if tok == nil {
		cfg := m.Config()
		l.Generator = generate.New(m, idsOnlyTokenizer{bos: cfg.BOS, eos: cfg.EOS})
	} else {
		if tv, mv := tok.VocabSize(), m.VocabSize(); tv > mv {
			m.Close()
			return nil, fmt.Errorf("the tokenizer has %d ids but the model in %s only %d", tv, dir, mv)
		}
		l.Generator = generate.New(m, tok)
	}
	if l.Draft, err = s.speculate(ctx, l.Generator, m); err != nil {
		m.Close()
		return nil, err
	}
	return l, nil
}

// resolve finds the model's folder and loads its tokenizer: nil, with a note on
// Progress, when s.IDsOnly and the folder has none.
func (s Spec) resolve(ctx context.Context) (string, *tokenizer.Tokenizer, error) {
	c := s.Hub
	if c == nil {
		c = hub.New(os.Getenv)
	}
	dir, stale, err := c.Resolve(ctx, s.Model, s.Pull)
	if err != nil {
		return "", nil, err
	}
	if stale != nil {
		fmt.Fprintf(s.progress(), "%v\nusing the cached snapshot of %s\n", stale, s.Model)
	}
	if _, err := os.Stat(filepath.Join(dir, "config.json")); err != nil {
		return "", nil, fmt.Errorf("model %s: %w: it has no config.json", dir, hub.ErrNoFolder)
	}
	tok, err := s.tokenizer(dir)
	switch {
	case err == nil:
		return dir, tok, nil
	case s.IDsOnly && s.Tokenizer == "":
		fmt.Fprintf(s.progress(), "%v: generating ids only, no text\n", err)
		return dir, nil, nil
	}
	return "", nil, fmt.Errorf("%w (give the tokenizer with --tokenizer FILE)", err)
}

func (s Spec) tokenizer(dir string) (*tokenizer.Tokenizer, error) {
	if s.Tokenizer != "" {
		return tokenizer.Load(s.Tokenizer)
	}
	return tokenizer.LoadDir(dir)
}

// Tokenizer loads the tokenizer s names: Spec.Tokenizer (a file, or a folder
// holding one), else the model folder's, a hub reference's cached or pulled.
func Tokenizer(ctx context.Context, s Spec) (*tokenizer.Tokenizer, error) {
	if s.Tokenizer != "" {
		if fi, err := os.Stat(s.Tokenizer); err == nil && fi.IsDir() {
			return tokenizer.LoadDir(s.Tokenizer)
		}
		return tokenizer.Load(s.Tokenizer)
	}
	if s.Model == "" {
		return nil, errors.New("no tokenizer: give --tokenizer FILE, or --model DIR holding one")
	}
	_, tok, err := s.resolve(ctx)
	return tok, err
}

// ParseDevice reads auto, cpu, cuda or cuda:N: the backend's name ("" for auto)
// and the device's ordinal.
func ParseDevice(device string) (name string, ordinal int, err error) {
	if device == "" || device == "auto" {
		return "", 0, nil
	}
	name, n, hasN := strings.Cut(device, ":")
	if hasN {
		if ordinal, err = strconv.Atoi(n); err != nil || ordinal < 0 {
			return "", 0, fmt.Errorf("device %q: want auto, cpu, cuda or cuda:N with N a device number", device)
		}
	}
	if name == "" {
		return "", 0, fmt.Errorf("device %q: want auto, cpu, cuda or cuda:N", device)
	}
	return name, ordinal, nil
}

// Backend opens the compute backend for device (see ParseDevice): auto is the
// registry's choice, the highest-priority backend whose probe finds a device.
func Backend(ctx context.Context, device string) (engine.Backend, error) {
	name, ordinal, err := ParseDevice(device)
	if err != nil {
		return nil, err
	}
	return engine.OpenBackend(ctx, name, ordinal)
}

// loadModel loads the checkpoint in dir on device, with a paged cache when paged
// is set and the backend has one, with progress on w: a line that rewrites itself
// on a terminal, a line a quarter elsewhere.
func loadModel(ctx context.Context, dir, device string, w io.Writer, paged *llama.Paged) (*llama.Model, error) {
	b, err := Backend(ctx, device)
	if err != nil {
		return nil, err
	}
	name := b.Name()
	step, format := 25, "loading %s on %s: %3d%% of %.2f GB\n"
	if isTerminal(w) {
		step, format = 10, "\rloading %s on %s: %3d%% of %.2f GB"
	}
	last := -1
	m, err := llama.Open(ctx, dir, b, llama.Options{Paged: paged, Progress: func(done, total int64) {
		if pct := int(int64(100/step)*done/max(total, 1)) * step; pct != last {
			last = pct
			fmt.Fprintf(w, format, dir, name, pct, float64(total)/1e9)
		}
	}})
	if last >= 0 && step == 10 {
		fmt.Fprintln(w)
	}
	if err != nil {
		b.Close()
		return nil, err
	}
	return m, nil
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// idsOnlyTokenizer stands in for the tokenizer of a model folder that has none: it
// knows BOS and EOS and decodes nothing.
type idsOnlyTokenizer struct{ bos, eos int }

func (idsOnlyTokenizer) Encode(string) []int      { return nil }
func (t idsOnlyTokenizer) BOS() int               { return t.bos }
func (t idsOnlyTokenizer) EOS() int               { return t.eos }
func (idsOnlyTokenizer) NewStream() idsOnlyStream { return idsOnlyStream{} }

type idsOnlyStream struct{}

func (idsOnlyStream) Next(int) string { return "" }
func (idsOnlyStream) Flush() string   { return "" }
