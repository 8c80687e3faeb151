"""Checks of train.py's loss weighting that run on a CPU: python3 scripts/train/test_train.py
(sentencepiece and transformers are stubbed when missing: only numpy and torch are used)."""
import sys
import types
import unittest

for name in ("sentencepiece", "transformers"):
    try:
        __import__(name)
    except ImportError:
        stub = types.ModuleType(name)
        stub.LlamaConfig = stub.LlamaForCausalLM = stub.SentencePieceProcessor = None
        sys.modules[name] = stub

import numpy as np
import torch

import train

LESS, MORE, UNK = 10, 11, 0


class Pieces:
    """The two pieces deciding looks up, as the LLaMA tokenizer has them."""

    def piece_to_id(self, piece):
        return {"\u2581<": LESS, "\u2581>": MORE}.get(piece, UNK)

    def unk_id(self):
        return UNK


class TestDeciding(unittest.TestCase):
    q = "Which was founded later, A or B?"
    ids = np.array([1, 5, LESS, 6, MORE, 7, MORE, 2])

    def test_plan_weights_the_operators_of_its_completion(self):
        e = {"question": self.q, "kind": "plan", "prompt": "..." + self.q}
        # the operator at 2 is in the prompt (before start 3): not weighted
        self.assertEqual(train.deciding(Pieces(), e, self.ids, 3).tolist(), [4, 6])

    def test_other_examples_have_none(self):
        sub = {"question": self.q, "kind": "knowledge", "prompt": "In what year was A founded?"}
        other = {"question": "Where was A born?", "kind": "plan", "prompt": "..."}
        same = {"question": "Are A and B in the same country?", "kind": "plan", "prompt": "..."}
        self.assertIsNone(train.deciding(Pieces(), sub, self.ids, 1))
        self.assertIsNone(train.deciding(Pieces(), other, self.ids, 3))
        self.assertIsNone(train.deciding(Pieces(), same, self.ids, 3))
        bare = {"question": self.q, "kind": "plan", "prompt": ""}
        self.assertIsNone(train.deciding(Pieces(), bare, self.ids[:2], 1))  # no operator in the completion

    def test_weights_reach_the_loss(self):
        e = {"question": self.q, "kind": "plan", "prompt": "..."}
        data = [(self.ids, 3, "plan", train.deciding(Pieces(), e, self.ids, 3)), (self.ids[:5], 2, "knowledge", None)]
        ids, labels, weights = train.collate(data, [0, 1], torch.device("cpu"), 5.0)
        self.assertEqual(weights[0].tolist(), [1, 1, 1, 1, 5, 1, 5, 1])
        self.assertEqual(weights[1].tolist(), [1] * 8)
        self.assertEqual(labels[1].tolist(), [-100, -100, LESS, 6, MORE, -100, -100, -100])

        class Model(torch.nn.Module):
            """Logits that ignore the input, so the loss is a known function of the weights."""

            def __init__(self):
                super().__init__()
                self.lm_head = torch.nn.Linear(4, 16, bias=False)
                with torch.no_grad():
                    self.lm_head.weight.copy_(torch.randn(16, 4, generator=torch.Generator().manual_seed(0)))
                self.model = lambda input_ids: types.SimpleNamespace(
                    last_hidden_state=torch.ones(input_ids.shape + (4,)))

        m = Model()
        plain = train.completion_loss(m, ids, labels)
        flat = train.completion_loss(m, ids, labels, torch.ones_like(weights))
        focused = train.completion_loss(m, ids, labels, weights)
        self.assertAlmostEqual(plain.item(), flat.item(), places=5)
        # every position has the same logits, so the weighted mean is the plain
        # one plus (5-1) times the two weighted tokens' losses over the count
        ce = torch.nn.functional.cross_entropy(m.lm_head(torch.ones(1, 4)).expand(2, 16), torch.tensor([MORE, MORE]),
                                               reduction="sum")
        count = (labels[:, 1:] != -100).sum()
        self.assertAlmostEqual(focused.item(), plain.item() + 4 * ce.item() / count.item(), places=4)


if __name__ == "__main__":
    unittest.main()
