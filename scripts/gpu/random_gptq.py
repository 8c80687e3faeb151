#!/usr/bin/env python3
"""Write a random GPTQ checkpoint folder in AutoGPTQ's layout, for speed runs.

The packed words and act-order g_idx are random (the format is all that matters
for speed; layers of one input share their g_idx, as AutoGPTQ's have), zeros symmetric; scales keep each linear's activations of order one
and the residual stream small, so 80 layers give finite float16 logits. Needs torch and safetensors (both on the
GPU machines); generating on the GPU takes seconds, writing ~33 GB about a minute.

    python3 scripts/gpu/random_gptq.py --preset 65b --bits 4 --group 128 --out /tmp/r65
    agent bench --model /tmp/r65 --device cuda
"""
import argparse, json, math, os
import torch
from safetensors.torch import save_file

PRESETS = {  # hidden, intermediate, layers, heads, kv heads, vocab
    "7b": (4096, 11008, 32, 32, 32, 32000),
    "65b": (8192, 22016, 80, 64, 64, 32000),
}

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", choices=PRESETS, default="65b")
    ap.add_argument("--bits", type=int, choices=(2, 3, 4, 8), default=4)
    ap.add_argument("--group", type=int, default=128, help="-1 for no groups")
    ap.add_argument("--layers", type=int, help="override the preset's layer count")
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    hidden, inter, layers, heads, kv, vocab = PRESETS[a.preset]
    layers = a.layers or layers
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    g = torch.Generator(device=dev).manual_seed(a.seed)
    os.makedirs(a.out, exist_ok=True)

    def words(*shape):
        return torch.randint(-2**31, 2**31 - 1, shape, dtype=torch.int32, device=dev, generator=g).cpu()

    # Symmetric zeros, as the seed's checkpoints have: every stored zero is
    # 2^(bits-1) - 1 (the v1 format stores zero - 1), packed 32 values to `bits` words.
    stream = sum((2 ** (a.bits - 1) - 1) << (a.bits * i) for i in range(32))
    zero_words = [(stream >> (32 * w)) & 0xFFFFFFFF for w in range(a.bits)]
    zero_words = torch.tensor([w - 2**32 if w >= 2**31 else w for w in zero_words], dtype=torch.int32)

    def linear(prefix, n_in, n_out, t, gain=1.0, g_idx=None):
        gs = n_in if a.group == -1 else a.group
        groups = -(-n_in // gs)
        # Dequantized values are scale*(q - 2^(bits-1)) with q uniform in [0, 2^bits):
        # variance about scale^2 * 2^(2*bits)/12; pick scale for a linear of this gain.
        std = math.sqrt(2 ** (2 * a.bits) / 12)
        t[prefix + ".qweight"] = words(n_in * a.bits // 32, n_out)
        t[prefix + ".qzeros"] = zero_words.repeat(groups, n_out // 32)
        t[prefix + ".scales"] = torch.full((groups, n_out), gain / (std * math.sqrt(n_in)), dtype=torch.float16)
        if g_idx is not None:
            t[prefix + ".g_idx"] = g_idx.clone()  # save_file refuses tensors that share memory
        elif a.group == -1:
            t[prefix + ".g_idx"] = torch.zeros(n_in, dtype=torch.int32)
        else:  # act-order: a random permutation of the rows decides their groups
            t[prefix + ".g_idx"] = (torch.randperm(n_in, device=dev, generator=g) // gs).to(torch.int32).cpu()
        return t[prefix + ".g_idx"]

    def dense(*shape, std):
        return (torch.randn(*shape, device=dev, generator=g) * std).to(torch.float16).cpu()

    weight_map, shard, n = {}, {}, 0
    def flush():
        nonlocal shard, n
        if shard:
            name = f"model-{n:05d}.safetensors"
            save_file(shard, os.path.join(a.out, name), metadata={"format": "pt"})
            weight_map.update({k: name for k in shard})
            shard, n = {}, n + 1

    shard["model.embed_tokens.weight"] = dense(vocab, hidden, std=1.0)
    for i in range(layers):
        p = f"model.layers.{i}."
        shard[p + "input_layernorm.weight"] = torch.ones(hidden, dtype=torch.float16)
        shard[p + "post_attention_layernorm.weight"] = torch.ones(hidden, dtype=torch.float16)
        hd = hidden // heads
        # The residual branches (o, down) get GPT-2's 1/sqrt(2 layers) gain, so the
        # residual stream stays within float16 over all layers.
        res = 1 / math.sqrt(2 * layers)
        # Layers of one input share their g_idx, as GPTQ's act-order gives them (it
        # sorts a layer's rows by its input's Hessian): k and v take q's, up gate's.
        shared = {}
        for name, n_in, n_out, gain, like in (("self_attn.q_proj", hidden, hidden, 1, None),
                                              ("self_attn.k_proj", hidden, kv * hd, 1, "self_attn.q_proj"),
                                              ("self_attn.v_proj", hidden, kv * hd, 1, "self_attn.q_proj"),
                                              ("self_attn.o_proj", hidden, hidden, res, None),
                                              ("mlp.gate_proj", hidden, inter, 1, None),
                                              ("mlp.up_proj", hidden, inter, 1, "mlp.gate_proj"),
                                              ("mlp.down_proj", inter, hidden, res, None)):
            shared[name] = linear(p + name, n_in, n_out, shard, gain, shared.get(like))
        if i % 8 == 7:
            flush()
    shard["model.norm.weight"] = torch.ones(hidden, dtype=torch.float16)
    shard["lm_head.weight"] = dense(vocab, hidden, std=1 / math.sqrt(hidden))
    flush()
    with open(os.path.join(a.out, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {}, "weight_map": weight_map}, f)
    with open(os.path.join(a.out, "config.json"), "w") as f:
        json.dump({"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_act": "silu",
                   "hidden_size": hidden, "intermediate_size": inter, "num_hidden_layers": layers,
                   "num_attention_heads": heads, "num_key_value_heads": kv, "vocab_size": vocab,
                   "max_position_embeddings": 2048, "rms_norm_eps": 1e-5, "rope_theta": 10000.0,
                   "bos_token_id": 1, "eos_token_id": 2, "tie_word_embeddings": False,
                   "torch_dtype": "float16"}, f)
    with open(os.path.join(a.out, "quantize_config.json"), "w") as f:
        json.dump({"bits": a.bits, "group_size": a.group, "damp_percent": 0.01, "desc_act": True,
                   "static_groups": False, "sym": True, "true_sequential": True,
                   "model_name_or_path": None, "model_file_base_name": "model"}, f)

if __name__ == "__main__":
    main()
