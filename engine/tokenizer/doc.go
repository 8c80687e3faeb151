// Package tokenizer is the LLaMA tokenizer: SentencePiece BPE with byte fallback,
// read from a SentencePiece tokenizer.model or a Hugging Face tokenizer.json, that
// encodes and decodes exactly as the sentencepiece library does.
//
// Encoding normalizes the text (a dummy "▁" in front, every space as "▁"), splits
// it into characters, then repeatedly merges the adjacent pair that forms the best
// piece: the highest score for a tokenizer.model, the lowest merge rank for a
// tokenizer.json, the leftmost pair on ties. A priority queue over adjacent pairs
// keeps this O(n log n) on long texts. Characters with no piece become their UTF-8
// bytes (<0x00>..<0xFF>). Text that spells a special token, such as "<s>", is
// plain text: special tokens are only ever added by EncodeWithBOS.
//
// Decode reverses this: "▁" becomes a space, byte tokens are reassembled into
// UTF-8 (each byte of an invalid sequence becomes U+FFFD), control tokens vanish,
// and the dummy space at the start of the sequence is dropped. A Stream decodes
// generated tokens one at a time; since generated text continues a prompt, it keeps
// the leading space of its first piece.
package tokenizer
