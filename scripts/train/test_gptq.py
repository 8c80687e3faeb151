"""Checks of gptq.py that run on a CPU: python3 scripts/train/test_gptq.py"""
import unittest

import torch

import gptq


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

    def test_dead_inputs(self):
        H = self.H.clone()
        H[3, :] = 0
        H[:, 3] = 0
        dq, *_ = gptq.gptq(self.W, H, 4, 32)
        self.assertTrue(torch.isfinite(dq).all())
        self.assertEqual(dq[:, 3].abs().max().item(), 0)


if __name__ == "__main__":
    unittest.main()
