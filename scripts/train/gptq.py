"""GPTQ (Frantar et al., 2022, "GPTQ: Accurate Post-Training Quantization for
Generative Pre-trained Transformers"), written from the paper, for LLaMA models of
transformers, and a writer of the AutoGPTQ v1 checkpoint layout engine/gptq reads.

Per linear layer W (out x in) the quantizer minimises ||WX - QX||^2 over the
calibration inputs X: it accumulates the Hessian H = 2/n X X^T, adds damping
(1% of its mean diagonal), and quantizes the columns one at a time in blocks of
128, in act-order (descending diag(H)), spreading each column's error over the
columns not yet quantized with the rows of the upper Cholesky factor of H^-1
(the paper's Algorithm 1, its lazy batch updates included). Groups of `group`
consecutive columns in act-order share a scale and a zero per output row
(asymmetric min/max grids of 2^bits levels); g_idx maps every input row to its
group. Layers are quantized in order, each one's Hessians taken from inputs that
passed through the layers already quantized.

Layout (AutoGPTQ v1, "gptq"): qweight int32 [in*bits/32, out], value k of column o
in bits [bits*k, bits*(k+1)) of the little-endian stream of qweight[:, o];
qzeros int32 [groups, out*bits/32], the zeros minus one packed along the output
columns; scales float16 [groups, out]; g_idx int32 [in]. A weight is
scale[g_idx[i], o] * (q[i, o] - (qzero[g_idx[i], o] + 1)).
"""
import json, math, os

import torch

LINEARS = ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
           "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj")


def grid(x, bits):
    """Scale and zero per row of x (rows x cols) for an asymmetric grid holding 0.
    The v1 format stores zero - 1, so a zero must be at least 1: a row whose grid
    would start at zero gets one level below it."""
    maxq = 2 ** bits - 1
    xmin = torch.clamp(x.min(1).values, max=0)
    xmax = torch.clamp(x.max(1).values, min=0)
    flat = (xmin == 0) & (xmax == 0)
    xmin[flat], xmax[flat] = -1, 1
    scale = (xmax - xmin) / maxq
    zero = torch.round(-xmin / scale)
    low = zero < 1
    scale[low] = xmax[low] / (maxq - 1)
    zero[low] = 1
    return scale, torch.clamp(zero, 1, maxq)


def gptq(W, H, bits, group, blocksize=128, percdamp=0.01):
    """Quantize W (out x in) with Hessian H (in x in). Returns the dequantized
    weights, the integer levels (out x in, original column order), the scales and
    zeros (groups x out) and g_idx (in)."""
    W = W.clone().float()
    H = H.clone().float()
    rows, cols = W.shape
    if group == -1:
        group = cols
    assert cols % group == 0 and (blocksize % group == 0 or group % blocksize == 0 and group == cols), (cols, group)
    maxq = 2 ** bits - 1
    dead = torch.diag(H) == 0
    H[dead, dead] = 1
    W[:, dead] = 0
    perm = torch.argsort(torch.diag(H), descending=True)
    invperm = torch.argsort(perm)
    W, H = W[:, perm], H[perm][:, perm]
    H += percdamp * torch.mean(torch.diag(H)) * torch.eye(cols, device=H.device)
    Hinv = torch.linalg.cholesky(torch.cholesky_inverse(torch.linalg.cholesky(H)), upper=True)
    Q = torch.zeros_like(W)
    Qint = torch.zeros(rows, cols, dtype=torch.int32, device=W.device)
    groups = cols // group
    scales = torch.zeros(groups, rows, device=W.device)
    zeros = torch.zeros(groups, rows, device=W.device)
    scale = zero = None
    for i1 in range(0, cols, blocksize):
        i2 = min(i1 + blocksize, cols)
        W1, Hinv1 = W[:, i1:i2].clone(), Hinv[i1:i2, i1:i2]
        Err1 = torch.zeros_like(W1)
        for i in range(i2 - i1):
            col = i1 + i
            if col % group == 0:
                # The group's grid from its columns as updated so far (a group
                # larger than a block is the whole matrix, taken at its start).
                span = W1[:, i:i + group] if group <= blocksize else W[:, col:col + group]
                scale, zero = grid(span, bits)
                scales[col // group], zeros[col // group] = scale, zero
            w = W1[:, i]
            q = torch.clamp(torch.round(w / scale) + zero, 0, maxq)
            dq = scale * (q - zero)
            Q[:, col], Qint[:, col] = dq, q.to(torch.int32)
            err = (w - dq) / Hinv1[i, i]
            W1[:, i:] -= err.unsqueeze(1) @ Hinv1[i, i:].unsqueeze(0)
            Err1[:, i] = err
        W[:, i2:] -= Err1 @ Hinv[i1:i2, i2:]
    g_idx = (invperm // group).to(torch.int32)
    return Q[:, invperm], Qint[:, invperm], scales, zeros.to(torch.int32), g_idx


def quantize_model(model, calib, device, bits=4, group=64, batch=16):
    """Quantize every decoder layer's linears in place (the weights become their
    dequantized values); calib is a list of token id lists. Returns, by tensor
    prefix, (levels, scales, zeros, g_idx)."""
    model.eval()
    layers = model.model.layers
    calib = sorted(calib, key=len)
    out = {}
    for li, layer in enumerate(layers):
        mods = {n: layer.get_submodule(n) for n in LINEARS}
        H = {n: torch.zeros(m.in_features, m.in_features, device=device, dtype=torch.float64) for n, m in mods.items()}
        count = {n: 0 for n in mods}

        def hook(name):
            def f(_, inp):
                x = inp[0].detach().reshape(-1, inp[0].shape[-1]).double()
                H[name] += x.T @ x
                count[name] += x.shape[0]
            return f
        handles = [m.register_forward_pre_hook(hook(n)) for n, m in mods.items()]
        with torch.no_grad():
            for s in range(0, len(calib), batch):
                part = calib[s:s + batch]
                n = min(len(t) for t in part)  # sorted by length: little is cut
                ids = torch.tensor([t[:n] for t in part], device=device)
                model(input_ids=ids)
        for h in handles:
            h.remove()
        for n, m in mods.items():
            Hn = (2 * H[n] / count[n]).float()
            dq, levels, scales, zeros, g_idx = gptq(m.weight.data, Hn, bits, group)
            m.weight.data = dq.to(m.weight.dtype)
            out[f"model.layers.{li}.{n}"] = (levels.cpu(), scales.cpu(), zeros.cpu(), g_idx.cpu())
    return out


def pack_rows(levels, bits):
    """Pack levels (rows x cols, values < 2^bits) along the rows: rows*bits/32 words
    per column, as int32."""
    per = 32 // bits
    rows, cols = levels.shape
    assert rows % per == 0 and 32 % bits == 0
    v = levels.to(torch.int64).reshape(rows // per, per, cols)
    words = torch.zeros(rows // per, cols, dtype=torch.int64)
    for k in range(per):
        words |= v[:, k, :] << (bits * k)
    return torch.where(words >= 2 ** 31, words - 2 ** 32, words).to(torch.int32)


def pack_linear(levels, scales, zeros, g_idx, bits):
    """The four tensors of one linear in the v1 layout; levels is out x in."""
    return {
        "qweight": pack_rows(levels.T.contiguous(), bits),
        "qzeros": pack_rows((zeros - 1).T.contiguous(), bits).T.contiguous(),
        "scales": scales.to(torch.float16).contiguous(),
        "g_idx": g_idx.to(torch.int32).contiguous(),
    }


def unpack_linear(t, bits):
    """The dequantized weights (out x in) of a packed linear: the inverse check."""
    qw = t["qweight"].to(torch.int64) & 0xFFFFFFFF
    per = 32 // bits
    levels = torch.stack([(qw >> (bits * k)) & (2 ** bits - 1) for k in range(per)], 1).reshape(-1, qw.shape[1])
    qz = t["qzeros"].to(torch.int64) & 0xFFFFFFFF
    zeros = torch.stack([(qz >> (bits * k)) & (2 ** bits - 1) for k in range(per)], 2).reshape(qz.shape[0], -1) + 1
    g = t["g_idx"].long()
    w = t["scales"].float()[g] * (levels.float() - zeros.float()[g])
    return w.T


SAFETENSORS_DTYPES = {"F16": torch.float16, "BF16": torch.bfloat16, "F32": torch.float32,
                      "I32": torch.int32, "I64": torch.int64}


def read_safetensors(path):
    """The tensors of one safetensors file (an 8-byte little-endian header length,
    the JSON header, the data), read without the safetensors package."""
    with open(path, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, meta in header.items():
        if name == "__metadata__":
            continue
        dtype = SAFETENSORS_DTYPES[meta["dtype"]]
        a, b = meta["data_offsets"]
        if b == a:
            out[name] = torch.empty(meta["shape"], dtype=dtype)
        else:
            out[name] = torch.frombuffer(bytearray(data[a:b]), dtype=dtype).reshape(meta["shape"])
    return out


def dequantized_state(model_dir):
    """The float32 state dict of a checkpoint write_checkpoint wrote, sharded or
    not: every quantized linear dequantized (unpack_linear), the rest as stored,
    lm_head.weight the embedding when the config ties them. It starts a training
    run from a shipped model (train.py --init) instead of from scratch."""
    index = os.path.join(model_dir, "model.safetensors.index.json")
    if os.path.exists(index):
        with open(index) as f:
            files = sorted(set(json.load(f)["weight_map"].values()))
    else:
        files = ["model.safetensors"]
    raw = {}
    for name in files:
        raw.update(read_safetensors(os.path.join(model_dir, name)))
    with open(os.path.join(model_dir, "config.json")) as f:
        cfg = json.load(f)
    bits = cfg["quantization_config"]["bits"]
    parts = ("qweight", "qzeros", "scales", "g_idx")
    state = {k: v.float() for k, v in raw.items() if k.rsplit(".", 1)[-1] not in parts}
    for p in sorted({k.rsplit(".", 1)[0] for k in raw if k.endswith(".qweight")}):
        state[p + ".weight"] = unpack_linear({k: raw[f"{p}.{k}"] for k in parts}, bits).contiguous()
    if cfg.get("tie_word_embeddings") and "lm_head.weight" not in state:
        state["lm_head.weight"] = state["model.embed_tokens.weight"]
    return state


def write_checkpoint(model, qlayers, out_dir, bits, group, shard_bytes=15 * 2 ** 20):
    """Write config.json, quantize_config.json and the weights, sharded under
    shard_bytes a file where they exceed it, with model.safetensors.index.json.
    Returns the file names."""
    from safetensors.torch import save_file
    sd = model.state_dict()
    tensors = {}
    tensors["model.embed_tokens.weight"] = sd["model.embed_tokens.weight"].to(torch.float16)
    if not model.config.tie_word_embeddings:
        tensors["lm_head.weight"] = sd["lm_head.weight"].to(torch.float16)
    tensors["model.norm.weight"] = sd["model.norm.weight"].to(torch.float16)
    for li in range(model.config.num_hidden_layers):
        for n in ("input_layernorm", "post_attention_layernorm"):
            tensors[f"model.layers.{li}.{n}.weight"] = sd[f"model.layers.{li}.{n}.weight"].to(torch.float16)
        for n in LINEARS:
            p = f"model.layers.{li}.{n}"
            for k, v in pack_linear(*qlayers[p], bits).items():
                tensors[f"{p}.{k}"] = v
    tensors = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    shards, cur, size = [], {}, 0
    for k, v in tensors.items():
        b = v.numel() * v.element_size()
        if cur and size + b > shard_bytes:
            shards.append(cur)
            cur, size = {}, 0
        cur[k], size = v, size + b
    shards.append(cur)
    files = []
    if len(shards) == 1:
        save_file(shards[0], os.path.join(out_dir, "model.safetensors"), metadata={"format": "pt"})
        files.append("model.safetensors")
    else:
        weight_map = {}
        for i, s in enumerate(shards):
            name = f"model-{i + 1:05d}-of-{len(shards):05d}.safetensors"
            save_file(s, os.path.join(out_dir, name), metadata={"format": "pt"})
            weight_map.update({k: name for k in s})
            files.append(name)
        with open(os.path.join(out_dir, "model.safetensors.index.json"), "w") as f:
            json.dump({"metadata": {"total_size": sum(v.numel() * v.element_size() for v in tensors.values())},
                       "weight_map": weight_map}, f, indent=1)
        files.append("model.safetensors.index.json")
    c = model.config
    quant = {"bits": bits, "group_size": group, "damp_percent": 0.01, "desc_act": True, "static_groups": False,
             "sym": False, "true_sequential": False, "model_file_base_name": "model", "quant_method": "gptq",
             "checkpoint_format": "gptq"}
    cfg = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_act": "silu",
           "hidden_size": c.hidden_size, "intermediate_size": c.intermediate_size,
           "num_hidden_layers": c.num_hidden_layers, "num_attention_heads": c.num_attention_heads,
           "num_key_value_heads": c.num_key_value_heads, "vocab_size": c.vocab_size,
           "max_position_embeddings": c.max_position_embeddings, "rms_norm_eps": c.rms_norm_eps,
           "rope_theta": 10000.0, "bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 0,
           "tie_word_embeddings": bool(c.tie_word_embeddings), "torch_dtype": "float16",
           "quantization_config": quant}
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(cfg, f, indent=1)
    with open(os.path.join(out_dir, "quantize_config.json"), "w") as f:
        json.dump(quant, f, indent=1)
    return files + ["config.json", "quantize_config.json"]
