"""Checks of gptq.py that run on a CPU: python3 scripts/train/test_gptq.py"""
import json
import math
import os
import tempfile
import unittest

import torch

import gptq

# The shipped model, for the check of dequantized_state on a real checkpoint.
SHIPPED = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "models", "rewoo-tiny")


class TestGPTQ(unittest.TestCase):
    def setUp(self):
        g = torch.Generator().manual_seed(0)
        self.W = torch.randn(96, 256, generator=g)
        # Correlated inputs with a few loud channels: where act-order and the
        # error feedback matter.
        X = torch.randn(2048, 256, generator=g) @ (torch.eye(256) + 0.3 * torch.randn(256, 256, generator=g))
        X[:, :8] *= 10
        self.X = X
        self.H = 2 * X.T @ X / X.shape[0]

    def test_beats_round_to_nearest(self):
        for group in (32, 64, 128):
            dq, levels, scales, zeros, g_idx = gptq.gptq(self.W, self.H, 4, group)
            # round to nearest on the same groups, in the original order
            rtn = torch.zeros_like(self.W)
            for s in range(0, 256, group):
                sc, z = gptq.grid(self.W[:, s:s + group], 4)
                q = torch.clamp(torch.round(self.W[:, s:s + group] / sc[:, None]) + z[:, None], 0, 15)
                rtn[:, s:s + group] = sc[:, None] * (q - z[:, None])
            e_gptq = ((self.X @ (self.W - dq).T) ** 2).mean().item()
            e_rtn = ((self.X @ (self.W - rtn).T) ** 2).mean().item()
            self.assertLess(e_gptq, 0.8 * e_rtn, f"group {group}")
            self.assertTrue(((levels >= 0) & (levels <= 15)).all())
            self.assertTrue(((zeros >= 1) & (zeros <= 15)).all(), "v1 stores zero-1: a zero of 0 cannot be stored")
            # act-order: each group holds exactly `group` rows
            self.assertEqual(torch.bincount(g_idx.long()).tolist(), [group] * (256 // group))
            # the levels, scales, zeros and g_idx give back the dequantized weights
            want = scales[g_idx.long()].T * (levels.float() - zeros[g_idx.long()].T.float())
            torch.testing.assert_close(want, dq, rtol=1e-5, atol=1e-5)

    def test_pack_round_trip(self):
        dq, levels, scales, zeros, g_idx = gptq.gptq(self.W, self.H, 4, 64)
        t = gptq.pack_linear(levels, scales, zeros, g_idx, 4)
        self.assertEqual(list(t["qweight"].shape), [256 * 4 // 32, 96])
        self.assertEqual(list(t["qzeros"].shape), [4, 96 * 4 // 32])
        self.assertEqual(t["qweight"].dtype, torch.int32)
        back = gptq.unpack_linear(t, 4)
        torch.testing.assert_close(back, dq, rtol=2e-3, atol=2e-3)  # scales are float16
        # value k of column o sits in bits [4k, 4k+4) of qweight[:, o]'s stream
        o, k = 5, 13
        word = int(t["qweight"][k // 8, o]) & 0xFFFFFFFF
        self.assertEqual((word >> (4 * (k % 8))) & 15, int(levels[o, k]))

    def test_dequantized_state(self):
        # A two-shard checkpoint in write_checkpoint's layout, written here by hand
        # (no safetensors package needed), read back as a float state dict.
        dq, levels, scales, zeros, g_idx = gptq.gptq(self.W, self.H, 4, 64)
        p = "model.layers.0.self_attn.q_proj"
        embed = torch.randn(10, 256).to(torch.float16)
        norm = torch.rand(256).to(torch.float16)
        shards = [{"model.embed_tokens.weight": embed, "model.norm.weight": norm},
                  {f"{p}.{k}": v for k, v in gptq.pack_linear(levels, scales, zeros, g_idx, 4).items()}]
        codes = {torch.float16: "F16", torch.int32: "I32"}
        with tempfile.TemporaryDirectory() as d:
            weight_map = {}
            for i, shard in enumerate(shards):
                name = f"model-{i + 1:05d}-of-00002.safetensors"
                header, blob = {"__metadata__": {"format": "pt"}}, b""
                for k, v in shard.items():
                    data = v.contiguous().numpy().tobytes()
                    header[k] = {"dtype": codes[v.dtype], "shape": list(v.shape), "data_offsets": [len(blob), len(blob) + len(data)]}
                    blob += data
                    weight_map[k] = name
                h = json.dumps(header).encode()
                with open(os.path.join(d, name), "wb") as f:
                    f.write(len(h).to_bytes(8, "little") + h + blob)
            with open(os.path.join(d, "model.safetensors.index.json"), "w") as f:
                json.dump({"weight_map": weight_map}, f)
            with open(os.path.join(d, "config.json"), "w") as f:
                json.dump({"tie_word_embeddings": True, "quantization_config": {"bits": 4}}, f)
            state = gptq.dequantized_state(d)
        self.assertEqual(sorted(state), sorted(["lm_head.weight", "model.embed_tokens.weight", "model.norm.weight", p + ".weight"]))
        torch.testing.assert_close(state[p + ".weight"], dq, rtol=2e-3, atol=2e-3)  # scales are float16
        torch.testing.assert_close(state["model.embed_tokens.weight"], embed.float())
        torch.testing.assert_close(state["model.norm.weight"], norm.float())
        self.assertIs(state["lm_head.weight"], state["model.embed_tokens.weight"])

    @unittest.skipUnless(os.path.exists(os.path.join(SHIPPED, "heldout.json")), "no shipped model")
    def test_dequantized_shipped_model(self):
        # The shipped checkpoint read back by dequantized_state and run by the plain
        # LLaMA forward below gives the held-out completion NLL that PyTorch's
        # quantized model gave when train.py wrote it, within 2% (the file's float16
        # scales; for the shipped model 4.553 against 4.508, the float model 4.651).
        state = gptq.dequantized_state(SHIPPED)
        with open(os.path.join(SHIPPED, "config.json")) as f:
            cfg = json.load(f)
        with open(os.path.join(SHIPPED, "heldout.json")) as f:
            held = json.load(f)
        nll = 0.0
        for ex in held["examples"]:
            ids, n = ex["ids"], ex["prompt_len"]
            logp = torch.log_softmax(llama_forward(state, cfg, ids), -1)
            nll -= sum(logp[i - 1, ids[i]].item() for i in range(n, len(ids)))
        want = held["quant_nll"]
        self.assertLess(abs(nll - want), 0.02 * want, f"NLL {nll:.4f} against {want:.4f}")

    def test_dead_inputs(self):
        H = self.H.clone()
        H[3, :] = 0
        H[:, 3] = 0
        dq, *_ = gptq.gptq(self.W, H, 4, 32)
        self.assertTrue(torch.isfinite(dq).all())
        self.assertEqual(dq[:, 3].abs().max().item(), 0)


def llama_forward(state, cfg, ids):
    """The logits of ids under a LLaMA state dict (transformers' layout and RoPE
    convention), in float32: an independent reading of the checkpoint."""
    D, H, eps = cfg["hidden_size"], cfg["num_attention_heads"], cfg["rms_norm_eps"]
    hd, T = D // H, len(ids)
    inv = 1.0 / (cfg.get("rope_theta", 10000.0) ** (torch.arange(0, hd, 2).float() / hd))
    ang = torch.arange(T).float()[:, None] * inv[None, :]
    cos, sin = torch.cat([ang.cos()] * 2, -1), torch.cat([ang.sin()] * 2, -1)

    def rope(t):
        return t * cos + torch.cat([-t[..., hd // 2:], t[..., :hd // 2]], -1) * sin

    def norm(x, w):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w

    def lin(x, name):
        return x @ state[name + ".weight"].T

    mask = torch.full((T, T), float("-inf")).triu(1)
    x = state["model.embed_tokens.weight"][torch.tensor(ids)]
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}."
        h = norm(x, state[p + "input_layernorm.weight"])
        q, k, v = (lin(h, p + "self_attn." + n).view(T, H, hd).transpose(0, 1) for n in ("q_proj", "k_proj", "v_proj"))
        att = ((rope(q) @ rope(k).transpose(-1, -2)) / math.sqrt(hd) + mask).softmax(-1)
        x = x + lin((att @ v).transpose(0, 1).reshape(T, D), p + "self_attn.o_proj")
        h = norm(x, state[p + "post_attention_layernorm.weight"])
        x = x + lin(torch.nn.functional.silu(lin(h, p + "mlp.gate_proj")) * lin(h, p + "mlp.up_proj"), p + "mlp.down_proj")
    return lin(norm(x, state["model.norm.weight"]), "lm_head")


if __name__ == "__main__":
    unittest.main()
