"""Generates the independent references the tokenizer tests compare against.

Run where the sentencepiece, tokenizers and transformers Python packages are
installed (our GPU machines have sentencepiece 0.2.2, tokenizers 0.23.2 and
transformers 5.17.0), with the LLaMA tokenizer.model from internal/fixtures/testdata/tokenizer:

    python3 gen_reference.py tokenizer.model OUTDIR

It writes OUTDIR/sentencepiece_cases.json:
  {"encode": [{text, ids, decoded}], "decode": [{ids, text}]}
where every ids/text comes from the sentencepiece library itself (encode without
BOS; decode of random id sequences, including control, unknown and byte tokens
that split UTF-8 characters); OUTDIR/tokenizer.json.gz and
OUTDIR/tokenizer-metaspace.json.gz, two tokenizer.json forms of the same model
(see below); and OUTDIR/hf_ids.json, the ids the Hugging Face tokenizers library
gives for every encode case with each of them.
"""
import gzip
import json
import os
import random
import sys

import sentencepiece as spm

model, out = sys.argv[1], sys.argv[2]
sp = spm.SentencePieceProcessor(model_file=model)
print("sentencepiece", spm.__version__, "pieces", sp.get_piece_size())

rng = random.Random(20240601)
pool = (
    list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
    + list(" " * 12 + "\n\t\r.,;:!?'\"()[]{}<>-_=+*/\\|@#$%^&~`")
    + list("éèàüößçñøåæœÿ") + list("東京日本語中文한국어") + list("ПриветмирΑλφα")
    + ["🚀", "👍🏽", "👨‍👩‍👧", "\u0301", "\u200b", "\u00a0", "\u3000", "▁", "\ufffd",
       "\U0010fffd", "\ue000", "\U0001d11e", "ﬁ", "Ⅻ", "<s>", "</s>", "<unk>", "<0x41>"]
)
words = ["the", " of", " and", "ing", "tion", " Hello", " world", "▁▁", "  ", "   ",
         ":evidence1:", "DuckDuckGo[", "]", "ASSISTANT:", " USER:", "http://x.y/z?q=1"]

texts = [
    "", " ", "  ", "   ", "\n", "\t", "a", " a", "a ", " a ", "▁", "▁▁", " ▁", "▁ ",
    "Hello", "hello world  ", "  leading", "trailing  ", "\u00a0nbsp", "\u3000ideographic",
    "é", "e\u0301", "ﬁ ligature", "Ⅻ", "🚀🚀🚀", "👨‍👩‍👧 family", "\U0010fffd", "\ue000",
    "<s>", "</s>", "<unk>", "<0x41>", "<s><s>", "\ufffd", "a\x00b", "\x7f", "\r\n",
    "1,000,000.00", "3.14159265358979", "don't", "I'm", "<<SYS>>", "[INST] hi [/INST]",
    "日本語のテキスト", "한국어 텍스트", "Привет, мир!", "Ελληνικά", "عربى", "עברית",
    "x" * 300, " " * 50, "ab" * 200, "\n" * 20, "🚀" * 30,
]
for _ in range(300):
    n = rng.randint(1, 40)
    s = "".join(rng.choice(pool if rng.random() < 0.7 else words) for _ in range(n))
    texts.append(s)

encode = []
for t in texts:
    ids = sp.encode(t)
    encode.append({"text": t, "ids": ids, "decoded": sp.decode(ids)})

n = sp.get_piece_size()
decode = [{"ids": ids, "text": sp.decode(ids)} for ids in (
    [], [0], [1], [2], [1, 15043], [29871], [29871, 15043], [259], [1, 259, 15043],
    [3 + 0x41], [3 + 0x41, 15043], [3 + 0xE6], [3 + 0xE6, 3 + 0x9D], [3 + 0xE6, 3 + 0x9D, 3 + 0xB1],
    [3 + 0xE6, 15043, 3 + 0x9D, 3 + 0xB1], [3 + 0xFF, 3 + 0xC0, 3 + 0x80], [3 + 0xED, 3 + 0xA0, 3 + 0x80],
    [3 + 0xF4, 3 + 0x90, 3 + 0x80, 3 + 0x80], [1, 3 + 0x20, 15043], [0, 15043], [15043, 0, 0],
    [2, 15043], [1, 1, 29871, 29871],
)]
for _ in range(300):
    k = rng.randint(1, 30)
    ids = []
    for _ in range(k):
        r = rng.random()
        if r < 0.1:
            ids.append(rng.randint(0, 2))
        elif r < 0.45:
            ids.append(rng.randint(3, 258))
        elif r < 0.55:
            ids.append(rng.choice([29871, 259, 1678, 268]))
        else:
            ids.append(rng.randint(259, n - 1))
    decode.append({"ids": ids, "text": sp.decode(ids)})

os.makedirs(out, exist_ok=True)
with open(os.path.join(out, "sentencepiece_cases.json"), "w", encoding="utf-8") as f:
    json.dump({"encode": encode, "decode": decode}, f, ensure_ascii=False, indent=0)
print("cases", len(encode), len(decode))

# tokenizer.json files made by transformers' own slow-to-fast conversion of
# tokenizer.model. transformers 5 writes a Metaspace pre-tokenizer (prepend_scheme
# "first"), which, like the Hugging Face tokenizers library, prepends no "▁" to
# text that already begins with one, so it differs from sentencepiece on leading
# spaces: we keep it as tokenizer-metaspace.json.gz with the ids the tokenizers
# library gives (hf_ids.json). tokenizer.json.gz is the same file in the form the
# LLaMA repositories on the hub carry (transformers 4, legacy): normalizer
# Prepend("▁") + Replace(" ", "▁") and no pre-tokenizer, merges ranked by score;
# the tokenizers library must encode every case with it exactly as sentencepiece
# does, apart from the special tokens it matches in text.
import shutil
import tempfile

from tokenizers import Tokenizer
from transformers import AutoTokenizer

src = tempfile.mkdtemp()
shutil.copy(model, os.path.join(src, "tokenizer.model"))
with open(os.path.join(src, "tokenizer_config.json"), "w") as f:
    json.dump({"tokenizer_class": "LlamaTokenizer"}, f)
converted = json.loads(AutoTokenizer.from_pretrained(src, legacy=False, from_slow=True).backend_tokenizer.to_str())
print({k: v for k, v in converted.items() if k != "model"})
legacy = dict(converted)
legacy["normalizer"] = {"type": "Sequence", "normalizers": [
    {"type": "Prepend", "prepend": "▁"},
    {"type": "Replace", "pattern": {"String": " "}, "content": "▁"}]}
legacy["pre_tokenizer"] = None
# transformers 5 ranks merges by the merged piece's id; sentencepiece merges by
# score, and LLaMA's whitespace pieces ("▁▁" is id 259) score -1e9, so rank them
# by score (stable, so equal scores keep their order).
legacy["model"] = dict(converted["model"])
legacy["model"]["merges"] = sorted(
    converted["model"]["merges"], key=lambda m: -sp.get_score(sp.piece_to_id(m[0] + m[1])))
special = ("<s>", "</s>", "<unk>")  # the tokenizers library matches these in text; we don't

hf = {}
for name, js in (("tokenizer.json.gz", legacy), ("tokenizer-metaspace.json.gz", converted)):
    text = json.dumps(js, ensure_ascii=False)
    fast = Tokenizer.from_str(text)
    ids = [fast.encode(c["text"], add_special_tokens=False).ids for c in encode]
    bad = [(c["text"], i, c["ids"]) for c, i in zip(encode, ids)
           if i != c["ids"] and not any(t in c["text"] for t in special)]
    print(name, "differs from sentencepiece (special tokens aside) on", len(bad), "of", len(encode))
    for b in bad[:5]:
        print("  ", repr(b[0][:60]), b[1][:12], b[2][:12])
    hf[name] = ids
    with gzip.open(os.path.join(out, name), "wt", encoding="utf-8") as f:
        f.write(text)
with open(os.path.join(out, "hf_ids.json"), "w") as f:
    json.dump(hf, f)
