// compile.mjs times xgrammar (vLLM's grammar engine, its WebAssembly build
// from npm) on a grammar over a model's vocabulary: node compile.mjs IN.json,
// where the file holds {"grammar": "...", "vocab": [pieces...], "eos": id};
// it prints {"compile_ms": ..., "mask_ms": ...}, the time to compile the
// grammar (what vLLM does once per new grammar) and to compute the first
// token mask (the median of 21). planner/constrain's BenchmarkGBNFXGrammar
// writes the file and reads the answer.
import fs from "node:fs";

import xg from "./xgrammar.mjs";

const input = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
const info = await xg.TokenizerInfo.createTokenizerInfo(input.vocab, "byte_fallback", true, input.vocab.length, [input.eos]);
const compiler = await xg.GrammarCompiler.createGrammarCompiler(info, false);
const t0 = performance.now();
const compiled = await compiler.compileGrammar(input.grammar);
const compileMS = performance.now() - t0;
const m = await xg.GrammarMatcher.createGrammarMatcher(compiled, undefined, false, 0);
const masks = [];
for (let i = 0; i < 21; i++) {
  const t = performance.now();
  await m.getNextTokenBitmask();
  masks.push(performance.now() - t);
}
masks.sort((a, b) => a - b);
process.stdout.write(JSON.stringify({ compile_ms: compileMS, mask_ms: masks[10] }) + "\n");
