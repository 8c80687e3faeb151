// Package constrain is grammar-constrained decoding of reWOO plans: while a local
// model writes a plan, only tokens that keep the text inside the plan language
// are allowed, and the plan always completes within its token budget.
//
// # The language
//
// A Grammar is a byte-level automaton over planparser's plan language: the lines
// planparser's framer tells apart by their first bytes, read the way its lexer
// reads them.
//
//   - Step lines: blanks, a fresh evidence name (":evidenceN:" or "#EN"), "=",
//     optional wrapping "[", a tool of Options.Tools, optional blanks, "[", the
//     input, "]", the wrapping "]", and a comment without brackets.
//   - Inside an input: free text, nested brackets (balanced, MaxDepth deep),
//     line breaks (a continuation line may not start like a step, Plan: or
//     Answer: line, which would leave the input unclosed for planparser), and
//     references, read greedily as planparser does ("#E12" is not "#E1"), only to
//     evidence defined on an earlier line.
//   - "Plan:" notes, an "Answer:" or "Final answer:" line whose references are
//     defined, and prose lines planparser ignores (the preamble, "I hope this
//     helps!"); CRLF, lone CR and indentation as planparser takes them.
//
// It admits every valid plan of planparser's corpus and none of the invalid ones,
// and a fuzz test checks that whatever it admits planparser validates. It is a
// subset of what planparser validates, by design: names without leading zeros and
// at most 127; no step or second Answer after the Answer line; answer references
// only to steps already written; valid UTF-8 without control bytes, Unicode
// spaces (planparser reads them as blanks), Unicode line ends (U+2028, U+2029,
// U+0085: it reads them as line ends) or zero-width spaces (it drops them);
// the call on the step's first line; and the Limits on steps, bytes per input and
// line, prose lines, notes, depth, wraps and blanks in a row, so the language is
// finite.
//
// # States and forcing
//
// A State is a small comparable value (about 80 bytes): the names defined (a
// bitset), counters, the mode within the line (line head, call, tool, input,
// closing, comment, note, answer, prose), the line head's progress, the pending
// reference and the pending UTF-8 character. Advancing copies it, so a snapshot
// is an assignment. Near every limit the grammar leaves only what closes the
// open construct: an input's last bytes can only close its brackets, a full line
// can only end, the step after MaxSteps can only be the Answer line. Finish
// returns the shortest completion: close the character, the reference and the
// brackets, end the line, write a step calling the first tool if there is none,
// and write "Answer: " citing the last step. MaxFinish bounds its length.
//
// # The vocabulary
//
// An Index puts the vocabulary's tokens in a byte trie, laid out in preorder so a
// refused edge skips its whole subtree: "▁" is a space and byte-fallback tokens
// ("<0xE2>") are their byte, so a character split over several tokens is checked
// byte by byte like any other. The mask of a state is one walk of the trie with
// the grammar (about 1 ms for LLaMA's 32000 tokens on one core), cached by the
// state's canonical key: the state with byte counters that are far from their
// limit (by more than two of the longest token) zeroed, prose lines left capped
// at what one token can use, and what only Finish reads dropped, so the states of
// free text inside an input share one mask. EOS is allowed only where the plan is
// complete.
//
// A Decoder is one generation: Mask, Advance, Forced, Done, and Filter, which
// sets the logits of disallowed tokens to -Inf as a sampler stage in front of
// engine/sample. Forced returns the tokens that are the only way on (the rest of
// a tool name, "evidence" after ":e"...), longest tokens first, for the engine
// to feed as one prefill. When the tokens left in the budget reach MaxFinish the
// Decoder allows only tokens along Finish: each writes at least one byte of it,
// so the plan is complete when the budget runs out, even under random logits.
//
// engine/generate's GenerateConstrained takes a Decoder: it calls Prepare on its
// own goroutine during each forward pass (the mask of the state after the token
// being fed is known before the step runs, so it is computed on the CPU while the
// GPU runs the step), then Filter, the sampler and Advance, and feeds Forced
// tokens in one forward pass. NewDecoderAfter starts a Decoder after plan text
// already standing (the steps of evidence a new plan reuses), whose names count
// as defined. The planner writes every plan of a local engine (one with
// engine.Constrained) this way unless Planner.NoConstrain.
//
// # Servers
//
// Grammar.GBNF writes the same plans as a GBNF grammar (llama.cpp's format,
// which vLLM's xgrammar reads too) for a server that constrains its own
// decoding (engine/openai's GenerateGrammar): the tools, references only to
// evidence defined before (unrolled, one rule set per step, the names of the
// new steps numbered in order from a given one), balanced brackets, the same
// line-start guards, bounded runs of text and an Answer line. GBNF keeps no
// set of names, so its shapes are narrower than the automaton's (see GBNF);
// and because xgrammar before its fix of Unicode classes misreads code points
// above U+007F in a class, its classes leave out ASCII only. Its tests check
// it with xgrammar itself over planparser's corpus (testdata/gbnf, run by
// node).
package constrain
