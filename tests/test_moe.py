"""llm_book.moe: Mixtral's renormalised top-k routing and Switch's top-1 of the full softmax."""

import math

import pytest
import torch

from llm_book.moe import switch_routing, top_k_routing


def test_the_worked_example():
    logits = torch.tensor([[math.log(4), math.log(2), 0.0, 0.0]])
    assert torch.allclose(top_k_routing(logits, 2), torch.tensor([[2 / 3, 1 / 3, 0, 0]]))
    assert torch.allclose(switch_routing(logits), torch.tensor([[0.5, 0, 0, 0]]))


def test_top_k_weights_sum_to_one_and_pick_the_largest_logits():
    logits = torch.randn(10, 8, generator=torch.Generator().manual_seed(0))
    weights = top_k_routing(logits, 2)
    assert torch.allclose(weights.sum(-1), torch.ones(10))
    assert ((weights > 0).sum(-1) == 2).all()
    assert torch.equal((weights > 0), torch.zeros_like(weights, dtype=torch.bool).scatter(
        -1, logits.topk(2, -1).indices, True))
    assert torch.allclose(top_k_routing(logits, 8), torch.softmax(logits, -1))  # k = all: plain softmax


def test_switch_keeps_the_full_softmax_probability():
    logits = torch.randn(5, 4, generator=torch.Generator().manual_seed(1))
    weights = switch_routing(logits)
    assert torch.allclose(weights.sum(-1), torch.softmax(logits, -1).max(-1).values)
    assert ((weights > 0).sum(-1) == 1).all() and (weights.sum(-1) < 1).all()


def test_inputs_are_left_alone_and_bad_arguments_named():
    logits = torch.randn(3, 4)
    before = logits.clone()
    top_k_routing(logits, 2), switch_routing(logits)
    assert torch.equal(logits, before)
    with pytest.raises(ValueError, match=r"`k` \(=5\) has to be a whole number of experts from 1 to 4"):
        top_k_routing(logits, 5)
    with pytest.raises(ValueError, match=r"`k` \(=0\)"):
        top_k_routing(logits, 0)
    with pytest.raises(TypeError, match=r"`logits` has to be a floating-point tensor"):
        switch_routing([[1.0, 2.0]])
    with pytest.raises(TypeError, match=r"torch.int64"):
        top_k_routing(torch.ones(2, 3, dtype=torch.long), 1)
