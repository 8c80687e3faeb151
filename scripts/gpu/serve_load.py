#!/usr/bin/env python3
"""Load a running `agent serve` with concurrent streamed completions and report
what came back: every stream's time to first token, tokens and wall time, the
aggregate tokens/s, and anything lost (an error, a stream without its usage, fewer
tokens than its usage says). Standard library only, for the GPU machines.

One client alone first (the single-stream rate), then CLIENTS at once; a JSON
summary goes to standard output, one line per phase, and the exit status is 1 if
any request was lost.

    agent serve --model /tmp/r65 --device cuda --max-sequences 64 --keep-alive -1 &
    python3 scripts/gpu/serve_load.py --url http://127.0.0.1:8090 --clients 64 --max-tokens 64
"""
import argparse, json, statistics, sys, threading, time, urllib.request


def stream(url, model, prompt, max_tokens):
    """One streamed /v1/completions request: (ttft_s, total_s, chunks, usage, error)."""
    body = json.dumps({"model": model, "prompt": prompt, "max_tokens": max_tokens, "temperature": 0,
                       "stream": True, "stream_options": {"include_usage": True}}).encode()
    req = urllib.request.Request(url + "/v1/completions", body, {"Content-Type": "application/json"})
    t0 = time.perf_counter()
    ttft, chunks, usage = None, 0, None
    try:
        with urllib.request.urlopen(req, timeout=600) as r:
            for raw in r:
                line = raw.decode().strip()
                if not line.startswith("data:"):
                    continue
                data = line[5:].strip()
                if data == "[DONE]":
                    break
                ev = json.loads(data)
                if ev.get("usage"):
                    usage = ev["usage"]
                if ev.get("choices") and ev["choices"][0].get("text"):
                    chunks += 1
                    if ttft is None:
                        ttft = time.perf_counter() - t0
    except Exception as e:  # a lost request is reported, not raised
        return ttft, time.perf_counter() - t0, chunks, usage, repr(e)
    return ttft, time.perf_counter() - t0, chunks, usage, None


def phase(url, model, clients, max_tokens, words):
    results = [None] * clients
    def run(i):
        # distinct prompts of the same length: no prefix shared past the first word
        prompt = " ".join(f"w{i}x{j}" for j in range(words))
        results[i] = stream(url, model, prompt, max_tokens)
    threads = [threading.Thread(target=run, args=(i,)) for i in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    lost = [r[4] or ("no usage" if r[3] is None else "no tokens") for r in results
            if r[4] or r[3] is None or r[3].get("completion_tokens", 0) == 0]
    gen = sum(r[3]["completion_tokens"] for r in results if r[3])
    ttfts = sorted(r[0] for r in results if r[0] is not None)
    return {"clients": clients, "wall_s": round(wall, 3), "completion_tokens": gen,
            "prompt_tokens": sum(r[3]["prompt_tokens"] for r in results if r[3]),
            "tok_s": round(gen / wall, 1),
            "ttft_ms_median": round(1e3 * statistics.median(ttfts), 1) if ttfts else None,
            "ttft_ms_max": round(1e3 * ttfts[-1], 1) if ttfts else None,
            "lost": len(lost), "errors": lost[:5]}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", default="http://127.0.0.1:8090")
    ap.add_argument("--clients", type=int, default=64)
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--prompt-words", type=int, default=100)
    a = ap.parse_args()
    with urllib.request.urlopen(a.url + "/v1/models", timeout=60) as r:
        model = json.load(r)["data"][0]["id"]
    stream(a.url, model, "warm up", 4)  # loads the model
    lost = 0
    for n in (1, a.clients):
        s = phase(a.url, model, n, a.max_tokens, a.prompt_words)
        lost += s["lost"]
        print(json.dumps(s), flush=True)
    sys.exit(1 if lost else 0)


if __name__ == "__main__":
    main()
