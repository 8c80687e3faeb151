// xgrammar.mjs loads xgrammar (vLLM's grammar engine, its WebAssembly build from
// npm) for check.mjs and compile.mjs. The package is a UMD bundle that its
// package.json marks as an ES module, so neither import nor require loads it:
// it is run here as the CommonJS it is.
import { createRequire } from "node:module";
import fs from "node:fs";
import path from "node:path";

const require = createRequire(import.meta.url);
const entry = require.resolve("@mlc-ai/web-xgrammar");
const mod = { exports: {} };
new Function("exports", "require", "module", "__filename", "__dirname", fs.readFileSync(entry, "utf8"))(
  mod.exports, require, mod, entry, path.dirname(entry));

export default mod.exports;
