// Package engine is the seam between the agent and a language model: the LLM
// interface the planner and tools call with its optional capabilities (TokenCounter,
// Constrained: generation under a token Constraint), generation requests and sampling settings,
// the Backend interface the model is written against, and the registry of backends
// (RegisterBackend, OpenBackend: engine/backend/cpu, and engine/backend/cuda behind
// the cuda build tag), with its optional capabilities (DeviceSampler, BatchDeviceSampler,
// PagedBackend). Checkpoint reading, the tokenizer, the model and the remote
// OpenAI-compatible client live in sub-packages.
package engine

import (
	"context"
	"errors"
	"time"
)

// LLM generates text. The local model and remote servers both implement it.
type LLM interface {
	// Generate continues req.Prompt, calling onText with each piece of new text as it
	// is decoded (never half a UTF-8 character), and returns when a stop condition is
	// met, ctx ends, or onText returns an error.
	Generate(ctx context.Context, req Request, onText func(string) error) (Result, error)
}

// TokenCounter is an optional capability of an LLM: counting tokens the way the
// model does, so callers can fit text into the context window.
type TokenCounter interface {
	CountTokens(text string) (int, error)
	// ContextLength is the model's maximum number of positions.
	ContextLength() int
}

// Constraint restricts the tokens a generation may produce (grammar-constrained
// decoding; planner/constrain's Decoder is one). Filter sets the logits of
// disallowed tokens to -Inf before sampling, Advance takes every token chosen, and
// Forced names the tokens that are the only way on, which the engine takes
// without sampling and feeds in one forward pass.
type Constraint interface {
	Filter(logits []float32) error
	Advance(id int) error
	Forced() []int
}

// Vocab is a model's vocabulary as a constraint over token ids reads it
// (engine/tokenizer.Tokenizer has it).
type Vocab interface {
	VocabSize() int
	Piece(id int) string // "▁Hello", "<0x0A>", "<s>"
	EOS() int            // -1 when there is none
}

// Constrained is an optional capability of an LLM: generating under a
// Constraint over the model's own token ids. The local engines have it
// (engine/generate, engine/batch); the clients of remote servers do not.
type Constrained interface {
	// Vocab is the vocabulary the constraint's token ids are of; nil when the
	// engine has none (a model loaded without its tokenizer), and then
	// GenerateUnder must not be called.
	Vocab() Vocab
	// GenerateUnder is Generate with every token chosen under c; req.MaxTokens
	// should be the budget c was made for.
	GenerateUnder(ctx context.Context, req Request, c Constraint, onText func(string) error) (Result, error)
}

// Sampling holds the decoding settings, with Hugging Face semantics and order:
// repetition penalty, temperature, top-k, top-p, then a seeded draw.
type Sampling struct {
	Temperature       float64 // 0 means greedy
	TopK              int     // 0 means off
	TopP              float64 // 0 or 1 means off
	RepetitionPenalty float64 // 0 or 1 means off
	Seed              uint64
}

// Request is one generation call.
type Request struct {
	Prompt    string
	MaxTokens int // new tokens at most; 0 means up to the context length
	Sampling  Sampling
	Stop      []string // generation ends before the first occurrence of any of these
}

// StopReason says why generation ended.
type StopReason string

const (
	StopEOS    StopReason = "eos"    // the model produced its end-of-sequence token
	StopString StopReason = "stop"   // a stop string appeared
	StopLength StopReason = "length" // MaxTokens or the context length was reached
)

// Result describes a finished generation.
type Result struct {
	Text         string
	PromptTokens int
	Tokens       int // generated tokens
	Stop         StopReason
	PromptTime   time.Duration // processing the prompt (prefill)
	GenTime      time.Duration // generating the new tokens
	// Steps is the forward passes after the prompt's; Drafted and Accepted are
	// the draft tokens speculative decoding proposed and the model kept (local
	// engines that report them: engine/generate). Each kept draft is a step saved.
	Steps, Drafted, Accepted int
}

// TokensPerSecond is the generation speed, excluding the prompt.
func (r Result) TokensPerSecond() float64 {
	if r.GenTime <= 0 {
		return 0
	}
	return float64(r.Tokens) / r.GenTime.Seconds()
}

// ErrContextLength is returned when a prompt does not fit the model's context.
var ErrContextLength = errors.New("prompt exceeds the model's context length")

// Model is a loaded language model with its key-value cache: the piece a generator
// drives, whatever backend computes it. It is not safe for concurrent use.
type Model interface {
	// Forward feeds ids at positions start, start+1, ... and returns the logits of the
	// last `last` of them (1 <= last <= len(ids)), row-major, last*VocabSize() floats.
	// Positions before start must have been fed by earlier calls; a start below the
	// number already fed rewinds the cache to start.
	Forward(ctx context.Context, ids []int, start, last int) ([]float32, error)
	VocabSize() int
	ContextLength() int
}
