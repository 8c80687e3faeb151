#!/usr/bin/env python3
"""Train a small LLaMA-architecture reWOO model from scratch, quantize it with GPTQ.

Reads the examples scripts/world writes (train.jsonl and the more worlds'
train-SEED.jsonl for training, dev.jsonl held out: other questions over other
entities; each may be compressed, .xz or .gz), trains transformers'
LlamaForCausalLM with the real LLaMA tokenizer, the loss on the completion only,
then quantizes it with scripts/train/gptq.py (4 bits, act-order, groups) and writes
a GPTQ checkpoint folder engine/gptq reads, plus heldout.json (held-out token ids,
the float and quantized models' perplexity on their completions, the float model's
greedy next tokens) and train_log.json (the run's figures).

    go run ./scripts/world -out .train/data -train-worlds 8
    python3 scripts/train/train.py --data .train/data --out models/rewoo-tiny --minutes 5.5

Needs torch, transformers (LlamaForCausalLM), sentencepiece and safetensors.
"""
import argparse, gzip, json, lzma, math, multiprocessing, os, random, time

import numpy as np

import torch
import sentencepiece as spm
from transformers import LlamaConfig, LlamaForCausalLM

import gptq


def read_jsonl(path):
    """The examples of path, or of path.xz or path.gz, compressed."""
    for ext in ("", ".xz", ".gz"):
        if os.path.exists(path + ext):
            path += ext
            break
    opener = {".xz": lzma.open, ".gz": gzip.open}.get(os.path.splitext(path)[1], open)
    with opener(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def train_files(data):
    """train.jsonl and the more worlds' train-SEED.jsonl (scripts/world -train-worlds),
    each maybe compressed, in name order."""
    names = set()
    for f in os.listdir(data):
        base = f[:-3] if f.endswith((".xz", ".gz")) else f
        if base == "train.jsonl" or base.startswith("train-") and base.endswith(".jsonl"):
            names.add(base)
    return [os.path.join(data, n) for n in sorted(names)]


def load_train(path, tokenizer, max_len):
    """One training file's examples, encoded (a worker of main's process pool)."""
    examples = read_jsonl(path)
    assert all(e["split"] == "train" for e in examples), path + " holds another split"
    return encode(spm.SentencePieceProcessor(model_file=tokenizer), examples, max_len)


COMPARATIVES = ("earlier", "later")
OPERATORS = ("<", ">")


def deciding(sp, e, ids, start):
    """The positions in ids (from start, the completion's first token) of the tokens
    that decide a comparison of years, None for an example without them: in a plan
    for a question that asks which is earlier or later, the Calculator's operator
    ("<" or ">", trainset's gold plan: a one-token choice that a small model
    otherwise guesses from its prior, the same for every question). KnowledgeModel
    examples have none: no KnowledgeModel step compares."""
    q = e["question"]
    if e["kind"] != "plan" or not any(" %s, " % w in q for w in COMPARATIVES):
        return None
    pieces = {sp.piece_to_id("\u2581" + op) for op in OPERATORS} - {sp.unk_id()}
    pos = [i for i in range(start, len(ids)) if ids[i] in pieces]
    return np.array(pos, dtype=np.int32) if pos else None


def encode(sp, examples, max_len, chunk=8192):
    """Token ids [BOS] + prompt + completion + [EOS] (an int32 array), the prompt's
    length, the kind and the deciding positions (deciding); the prompt is tokenized
    alone too, and an example whose joint tokenization does not start with it (a
    token merging across the seam) is an error. Chunked, so that only one chunk's
    Python lists live at a time."""
    out, dropped = [], 0
    for s in range(0, len(examples), chunk):
        part = examples[s:s + chunk]
        prompts = sp.encode([e["prompt"] for e in part])
        fulls = sp.encode([e["prompt"] + e["completion"] for e in part])
        for e, p, f in zip(part, prompts, fulls):
            if f[:len(p)] != p:
                raise ValueError("prompt and completion merge at the seam: %r" % e["completion"][:40])
            if len(f) + 2 > max_len:
                dropped += 1
                continue
            ids = np.array([sp.bos_id()] + f + [sp.eos_id()], dtype=np.int32)
            out.append((ids, 1 + len(p), e["kind"], deciding(sp, e, ids, 1 + len(p))))
    return out, dropped


def batches(data, batch_tokens, rng):
    """Batches of examples of similar length, about batch_tokens tokens each."""
    idx = list(range(len(data)))
    rng.shuffle(idx)
    chunk = 4096
    out = []
    for s in range(0, len(idx), chunk):
        part = sorted(idx[s:s + chunk], key=lambda i: len(data[i][0]))
        b, longest = [], 0
        for i in part:
            n = len(data[i][0])
            if b and max(longest, n) * (len(b) + 1) > batch_tokens:
                out.append(b)
                b, longest = [], 0
            b.append(i)
            longest = max(longest, n)
        if b:
            out.append(b)
    rng.shuffle(out)
    return out


def collate(data, b, device, focus=1.0):
    """The batch's ids, labels (-100 off the completion) and each label's weight in
    the loss: focus at the deciding positions, 1 elsewhere."""
    n = max(len(data[i][0]) for i in b)
    ids = torch.zeros(len(b), n, dtype=torch.long)
    labels = torch.full((len(b), n), -100, dtype=torch.long)
    weights = torch.ones(len(b), n)
    for r, i in enumerate(b):
        t, p, _, d = data[i]
        t = torch.as_tensor(np.asarray(t, dtype=np.int64))
        ids[r, :len(t)] = t
        labels[r, p:len(t)] = t[p:]
        if d is not None:
            weights[r, torch.as_tensor(d, dtype=torch.long)] = focus
    return (ids.to(device, non_blocking=True), labels.to(device, non_blocking=True),
            weights.to(device, non_blocking=True))


def completion_loss(model, ids, labels, weights=None, reduction="mean"):
    """Cross-entropy of the completion tokens, each weighted by weights (the mean is
    over the tokens, so weights above 1 add to the gradient); the output layer runs
    only at the positions that predict one (most positions are prompt)."""
    h = model.model(input_ids=ids).last_hidden_state[:, :-1]
    target = labels[:, 1:]
    keep = target != -100
    logits = model.lm_head(h[keep]).float()
    if weights is None:
        return torch.nn.functional.cross_entropy(logits, target[keep], reduction=reduction)
    ce = torch.nn.functional.cross_entropy(logits, target[keep], reduction="none") * weights[:, 1:][keep]
    return ce.sum() if reduction == "sum" else ce.mean()


def completion_nll(model, data, device, batch_tokens=32768):
    """Total negative log-likelihood and count of the completions' tokens."""
    model.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for b in batches(data, batch_tokens, random.Random(0)):
            ids, labels, _ = collate(data, b, device)
            with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
                lp = completion_loss(model, ids, labels, reduction="sum")
            total += lp.item()
            count += (labels[:, 1:] != -100).sum().item()
    model.train()
    return total, count


def greedy_match(model, sp, data, device, n, max_new=160):
    """Share of n examples whose greedy completion equals the gold one exactly."""
    model.eval()
    hits = 0
    with torch.no_grad():
        for t, p, _, _ in data[:n]:
            ids = torch.tensor([t[:p].tolist()], device=device)
            out = model.generate(ids, max_new_tokens=min(max_new, len(t) - p + 8), do_sample=False,
                                 eos_token_id=sp.eos_id(), pad_token_id=0)
            hits += out[0, p:].tolist() == t[p:].tolist()
    model.train()
    return hits / max(n, 1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--tokenizer", default="internal/fixtures/testdata/tokenizer/tokenizer.model")
    ap.add_argument("--out", required=True)
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--intermediate", type=int, default=768)
    ap.add_argument("--layers", type=int, default=8)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--context", type=int, default=1024)
    ap.add_argument("--minutes", type=float, default=5.0, help="training time")
    ap.add_argument("--batch-tokens", type=int, default=65536)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--bits", type=int, default=4)
    ap.add_argument("--group", type=int, default=64)
    ap.add_argument("--calib", type=int, default=256, help="calibration examples for GPTQ")
    ap.add_argument("--dev-examples", type=int, default=2000)
    ap.add_argument("--match", type=int, default=64, help="dev examples decoded greedily")
    ap.add_argument("--max-train", type=int, default=0, help="use at most this many training examples")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--init", default="", help="start from this GPTQ checkpoint (dequantized) instead of from scratch")
    ap.add_argument("--focus", type=float, default=1.0,
                    help="loss weight of the tokens that decide a comparison of years (deciding: the Calculator's operator)")
    a = ap.parse_args()
    if a.focus <= 0:
        raise SystemExit(f"--focus {a.focus}: want a positive weight (1 weighs every token alike)")
    torch.manual_seed(a.seed)
    rng = random.Random(a.seed)
    t0 = time.time()
    sp = spm.SentencePieceProcessor(model_file=a.tokenizer)
    # The training files are read and tokenized in parallel, one a process, before
    # CUDA is touched (the workers are forked).
    files = train_files(a.data)
    with multiprocessing.get_context("fork").Pool(max(1, min(len(files), os.cpu_count() or 1))) as pool:
        parts = pool.starmap(load_train, [(f, a.tokenizer, a.context) for f in files])
    train = [d for part, _ in parts for d in part]
    dropped = sum(n for _, n in parts)
    if a.max_train:
        rng.shuffle(train)
        train = train[:a.max_train]
    dev_ex = read_jsonl(os.path.join(a.data, "dev.jsonl"))
    assert all(e["split"] != "train" for e in dev_ex), "dev.jsonl holds training examples"
    rng.shuffle(dev_ex)
    dev_ex = dev_ex[:a.dev_examples]
    dev, dev_dropped = encode(sp, dev_ex, a.context)
    focused = sum(d[3] is not None for d in train)
    print(f"tokenized {len(train)} train examples of {len(files)} files ({dropped} too long, {focused} with deciding "
          f"tokens), {len(dev)} dev examples in {time.time()-t0:.1f}s", flush=True)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")

    cfg = LlamaConfig(vocab_size=sp.vocab_size(), hidden_size=a.hidden, intermediate_size=a.intermediate,
                      num_hidden_layers=a.layers, num_attention_heads=a.heads, num_key_value_heads=a.heads,
                      max_position_embeddings=a.context, rms_norm_eps=1e-5, rope_theta=10000.0,
                      tie_word_embeddings=True, bos_token_id=1, eos_token_id=2, pad_token_id=0,
                      hidden_act="silu", attention_bias=False, mlp_bias=False)
    model = LlamaForCausalLM(cfg)
    if a.init:
        # Continue a shipped model: its dequantized weights, checked key by key
        # (only non-persistent rotary buffers may be missing) and shape by shape.
        missing, unexpected = model.load_state_dict(gptq.dequantized_state(a.init), strict=False)
        missing = [k for k in missing if "rotary_emb" not in k]
        if missing or unexpected:
            raise SystemExit(f"--init {a.init}: missing {missing}, unexpected {unexpected}")
        print(f"initialized from {a.init}", flush=True)
    model = model.to(device)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"model: {n_params/1e6:.2f}M parameters", flush=True)
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=a.lr, betas=(0.9, 0.95), fused=device.type == "cuda")
    budget = a.minutes * 60
    warmup = 200
    step, tokens, epoch, log = 0, 0, 0, []
    start = time.time()
    done = False
    while not done:
        for b in batches(train, a.batch_tokens, rng):
            frac = (time.time() - start) / budget
            if frac >= 1:
                done = True
                break
            lr = a.lr * min(1.0, (step + 1) / warmup) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * frac)))
            for g in opt.param_groups:
                g["lr"] = lr
            ids, labels, weights = collate(train, b, device, a.focus)
            with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
                loss = completion_loss(model, ids, labels, weights)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            step += 1
            tokens += ids.numel()
            if step % 100 == 0 or step == 1:
                el = time.time() - start
                print(f"step {step} epoch {epoch} loss {loss.item():.4f} lr {lr:.2e} tokens {tokens/1e6:.1f}M {tokens/el/1e3:.0f}k tok/s {el:.0f}s", flush=True)
                log.append({"step": step, "loss": loss.item(), "tokens": tokens, "seconds": el})
        epoch += 1
    train_s = time.time() - start

    model.float()
    nll, cnt = completion_nll(model, dev, device)
    float_ppl = math.exp(nll / cnt)
    plans = [d for d in dev if d[2] == "plan"]
    kms = [d for d in dev if d[2] == "knowledge"]
    match = {"plan": greedy_match(model, sp, plans, device, a.match), "knowledge": greedy_match(model, sp, kms, device, a.match)}
    print(f"float: dev completion ppl {float_ppl:.4f} over {cnt} tokens; greedy exact {match}", flush=True)

    # Held-out text for the engine check: a few dev completions with their prompts.
    held = [d for d in dev[:8]]
    fnll, _ = completion_nll(model, held, device)
    with torch.no_grad():
        greedy = []
        for t, p, _, _ in held:
            lg = model(input_ids=torch.tensor([t.tolist()], device=device)).logits[0].float()
            greedy.append(lg.argmax(-1).tolist())

    t1 = time.time()
    calib = [d[0].tolist() for d in train[:a.calib]]
    qlayers = gptq.quantize_model(model, calib, device, bits=a.bits, group=a.group)
    quant_s = time.time() - t1
    qnll, qcnt = completion_nll(model, dev, device)
    quant_ppl = math.exp(qnll / qcnt)
    qmatch = {"plan": greedy_match(model, sp, plans, device, a.match), "knowledge": greedy_match(model, sp, kms, device, a.match)}
    print(f"quantized ({a.bits}-bit, group {a.group}, act-order) in {quant_s:.1f}s: dev completion ppl {quant_ppl:.4f} "
          f"({100*(quant_ppl/float_ppl-1):+.2f}%); greedy exact {qmatch}", flush=True)

    os.makedirs(a.out, exist_ok=True)
    files = gptq.write_checkpoint(model, qlayers, a.out, bits=a.bits, group=a.group)
    hs = [{"ids": t.tolist(), "prompt_len": p, "float_greedy": g} for (t, p, _, _), g in zip(held, greedy)]
    hnll, hcnt = completion_nll(model, held, device)
    with open(os.path.join(a.out, "heldout.json"), "w") as f:
        json.dump({"examples": hs, "float_nll": fnll, "quant_nll": hnll, "tokens": hcnt}, f)
    info = {
        "device": torch.cuda.get_device_name(0) if device.type == "cuda" else "cpu",
        "parameters": n_params, "hidden": a.hidden, "intermediate": a.intermediate, "layers": a.layers,
        "heads": a.heads, "context": a.context, "steps": step, "epochs": epoch, "tokens": tokens,
        "train_seconds": round(train_s, 1), "quantize_seconds": round(quant_s, 1), "lr": a.lr,
        "batch_tokens": a.batch_tokens, "train_examples": len(train), "dev_examples": len(dev),
        "init": a.init, "focus": a.focus, "focused_examples": focused,
        "float_dev_ppl": float_ppl, "quant_dev_ppl": quant_ppl, "dev_tokens": cnt,
        "float_greedy_exact": match, "quant_greedy_exact": qmatch, "bits": a.bits, "group": a.group,
        "files": files, "log": log,
    }
    with open(os.path.join(a.out, "train_log.json"), "w") as f:
        json.dump(info, f, indent=1)
    print(json.dumps({k: v for k, v in info.items() if k != "log"}), flush=True)


if __name__ == "__main__":
    main()
