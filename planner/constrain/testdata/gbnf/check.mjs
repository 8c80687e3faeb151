// check.mjs runs xgrammar, the grammar engine of vLLM (its WebAssembly build
// from npm), over plans: node check.mjs CASES.json, where the file holds
// {"grammar": "...", "texts": ["...", ...]}; it prints a JSON array of
// booleans, whether the grammar accepts each text whole. The grammar is
// compiled once for a vocabulary of the 256 bytes and an end token, and each
// text fed byte by byte to a matcher, as vLLM feeds a model's tokens, then
// the end token. planner/constrain's TestGBNFXGrammar writes the file and
// reads the answer.
import fs from "node:fs";

import xg from "./xgrammar.mjs";

const input = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
const vocab = [];
for (let b = 0; b < 256; b++) {
  vocab.push("<0x" + b.toString(16).toUpperCase().padStart(2, "0") + ">");
}
const eos = vocab.length;
vocab.push("</s>");
const info = await xg.TokenizerInfo.createTokenizerInfo(vocab, "byte_fallback", false, vocab.length, [eos]);
const compiler = await xg.GrammarCompiler.createGrammarCompiler(info, false);
const compiled = await compiler.compileGrammar(input.grammar);
const out = [];
for (const text of input.texts) {
  const m = await xg.GrammarMatcher.createGrammarMatcher(compiled, undefined, false, 0);
  let ok = true;
  for (const b of Buffer.from(text, "utf8")) {
    if (!m.acceptToken(b)) {
      ok = false;
      break;
    }
  }
  out.push(ok && m.acceptToken(eos));
  m.dispose();
}
process.stdout.write(JSON.stringify(out) + "\n");
