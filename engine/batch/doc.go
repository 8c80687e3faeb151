// Package batch is the continuous-batching scheduler: an engine.LLM that serves
// many Generate calls at once over one model with a paged key-value cache
// (engine/llama loaded with Options.Paged on a backend with the optional
// engine.PagedBackend capability; today the CPU backend). On a backend without it
// the engine stays the one-sequence generator of engine/generate (engine/open
// chooses), which is also what the CUDA backend gets until it has batched kernels.
//
// # Steps
//
// One goroutine runs the model. Each step is one forward pass over the rows of all
// running sequences: every decoding sequence's next token (one row each), then
// chunks of the prompts still being processed, oldest sequence first, up to
// Options.StepTokens rows (the model's MaxBatch by default), or up to
// Options.MixedStepTokens (512) in a step that carries decodes. A long prompt is
// thus prefilled a chunk per step, interleaved with the running decodes, which never
// wait for it longer than one short step, and a prompt with nothing decoding beside
// it takes whole steps (on Hopper 2048 rows: the CUDA backend's long steps). After
// a step each sequence whose last row was computed samples its next token with its
// own sampler (settings, seed, repetition history), and the token goes to its
// caller, which decodes text and matches its own stop strings
// exactly as engine/generate does; EOS and the token limit end a sequence in the
// loop. A sequence that ends, is cancelled (its ctx) or whose caller returns (a
// stop string, onText's error) leaves before the next step, and a waiting call
// takes its slot in that same step.
//
// On a model with DeviceSampling (engine/llama on the CUDA backend) the rows of
// the sequences without a constraint are sampled on the device instead, all in the
// step's one sampling launch, and only their ids are copied back: each with its
// sampler's settings, its distinct ids so far and a uniform drawn from its seeded
// generator exactly when the sampler would draw, so the tokens are those of the
// host path (greedy exactly, sampled up to float rounding). A row the device
// cannot sample ends its sequence alone.
//
// GenerateConstrained runs a generate.Constraint (grammar-constrained decoding)
// the same way: it filters the sequence's logits before its sampler, and the
// tokens it forces join the sequence unsampled and are fed as one chunk.
//
// Because a row's arithmetic on the CPU backend does not depend on the other rows
// of its batch, N concurrent greedy generations give exactly the ids each gives
// alone through engine/generate.
//
// # Admission, the queue and preemption
//
// At most Options.MaxSequences sequences run at once; up to Options.MaxQueue calls
// wait, first come first served, and a call past that fails at once with ErrBusy.
// The call at the head of the queue is admitted when a slot is free and the pool
// has blocks for its whole prompt (after prefix-cache hits) beside those the
// running sequences still need for the tokens they have (a prompt prefilled in
// chunks takes its blocks a chunk at a time); otherwise it, and everything behind
// it, waits. Decoding grows a sequence's block table a block at
// a time. When the pool runs out, the youngest running sequence (the last
// admitted) is preempted: its blocks are released and it goes back to the front of
// the queue with its prompt and the tokens generated so far, to be recomputed
// (prefill of all of them) when admitted again. Its sampler is kept, so it goes on
// exactly where it stopped. The pool holds at least one full context, so the
// oldest sequence always makes progress.
//
// # The paged cache
//
// The cache is a pool of blocks of BlockSize positions (16 by default,
// llama.DefaultBlockSize), all layers' keys and values for those positions. Its
// size is configured (llama.Paged.Blocks) or taken from the memory the backend has
// free after the weights (llama.Paged.Share of it, one half by default, capped at
// Sequences full contexts). Each sequence has a block table: position p lives in
// block table[p/BlockSize] at slot p%BlockSize; attention reads through it.
//
// # Prefix caching
//
// A block is keyed once all its positions are computed: its key is the SHA-256 of
// the previous block's key and the block's token ids, so it names the block's
// tokens and everything before them. When a sequence ends (or is preempted) its
// keyed blocks stay in the pool as a cache, least recently used evicted first when
// a block is needed. An admitted sequence looks its prompt's full blocks up in
// order (all but the last token, whose logits are needed) and starts after the
// last consecutive hit; blocks are shared, by reference count, between the
// sequences that hit them, and never written again. Stats reports the queries,
// hits (HitRate) and the positions saved, for a server's /metrics.
package batch
