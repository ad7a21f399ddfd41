"""llm_book.interpret: head ablation and attention-pattern scores on hand-made maps with known answers."""

import pytest
import torch

from llm_book.interpret import ablate_heads, induction_score, previous_token_score, repeated_random_tokens
from llm_book.model import GPT, GPTConfig


def one_hot_map(t: int, source) -> torch.Tensor:
    """(T, T) attention where query i puts all its weight on key source(i)."""
    a = torch.zeros(t, t)
    for i in range(t):
        a[i, source(i)] = 1.0
    return a


def test_previous_token_score_on_known_maps():
    t = 6
    previous = one_hot_map(t, lambda i: max(i - 1, 0))
    first = one_hot_map(t, lambda i: 0)
    uniform = torch.tril(torch.ones(t, t)) / torch.arange(1, t + 1)[:, None]
    attn = torch.stack([previous, first, uniform])[None]          # (1, 3 heads, T, T)
    score = previous_token_score(attn)
    assert score.shape == (3,)
    assert score[0] == 1.0
    assert torch.isclose(score[1], torch.tensor(1 / 5))            # only query 1 looks back one step (at 0)
    expected = sum(1 / (i + 1) for i in range(1, t)) / (t - 1)
    assert torch.isclose(score[2], torch.tensor(expected))


def test_induction_score_on_known_maps():
    period, t = 4, 12
    induction = one_hot_map(t, lambda i: i - period + 1 if i >= period else 0)
    off_by_one = one_hot_map(t, lambda i: i - period if i >= period else 0)   # the same token, not the next one
    attn = torch.stack([induction, off_by_one])[None].repeat(2, 1, 1, 1)   # batch of 2
    score = induction_score(attn, period)
    assert score.tolist() == [1.0, 0.0]
    half = 0.5 * induction + 0.5 * off_by_one
    assert torch.isclose(induction_score(half[None, None], period), torch.tensor([0.5])).all()


def test_scores_do_not_change_their_input():
    attn = torch.softmax(torch.randn(2, 3, 5, 5), -1)
    before = attn.clone()
    previous_token_score(attn)
    induction_score(attn, 2)
    assert torch.equal(attn, before)


def test_score_arguments_are_checked():
    with pytest.raises(ValueError, match=r"`attn` has to be a \(batch, heads, T, T\)"):
        previous_token_score(torch.ones(3, 3))
    with pytest.raises(ValueError, match="T >= 2"):
        previous_token_score(torch.ones(1, 1, 1, 1))
    with pytest.raises(TypeError, match="floating-point"):
        previous_token_score(torch.ones(1, 1, 3, 3, dtype=torch.long))
    with pytest.raises(ValueError, match=r"`period` \(=5\) has to be an integer from 2 to T - 1 = 4"):
        induction_score(torch.ones(1, 1, 5, 5), 5)
    with pytest.raises(ValueError, match=r"`period` \(=1\)"):
        induction_score(torch.ones(1, 1, 5, 5), 1)
    with pytest.raises(TypeError, match=r"`period` \(=2.0\)"):
        induction_score(torch.ones(1, 1, 5, 5), 2.0)


def test_repeated_random_tokens():
    g = torch.Generator().manual_seed(0)
    x = repeated_random_tokens([3, 4, 5, 6, 7, 8], length=4, repeats=3, generator=g, batch_size=5)
    assert x.shape == (5, 12) and x.dtype == torch.int64
    assert torch.equal(x[:, :4], x[:, 4:8]) and torch.equal(x[:, :4], x[:, 8:])
    for row in x:
        assert len(set(row[:4].tolist())) == 4 and set(row.tolist()) <= {3, 4, 5, 6, 7, 8}
    again = repeated_random_tokens([3, 4, 5, 6, 7, 8], 4, 3, torch.Generator().manual_seed(0), batch_size=5)
    assert torch.equal(x, again)
    with pytest.raises(ValueError, match=r"`length` \(=7\) has to be an integer from 1 to the 6 distinct"):
        repeated_random_tokens(range(6), 7, 2)
    with pytest.raises(ValueError, match=r"`repeats` \(=0\)"):
        repeated_random_tokens(range(6), 3, 0)
    with pytest.raises(ValueError, match="`vocab_ids` has to be a 1-D"):
        repeated_random_tokens([[1, 2], [3, 4]], 2, 2)


@pytest.fixture
def model():
    torch.manual_seed(0)
    return GPT(GPTConfig(vocab_size=11, block_size=8, n_layer=2, n_head=4, n_embd=16)).eval()


def test_ablate_heads_zeroes_exactly_the_slices(model):
    idx = torch.randint(11, (3, 8), generator=torch.Generator().manual_seed(1))
    seen = []
    with torch.no_grad():
        base = model(idx).logits
        with ablate_heads(model, [(1, 2), (0, 0)]):
            # registered after ablate_heads' hook, so it sees what the output projection receives
            handle = model.blocks[1].attn.out.register_forward_pre_hook(lambda m, inp: seen.append(inp[0].clone()))
            ablated = model(idx).logits
            handle.remove()
    assert not torch.allclose(base, ablated)
    merged = seen[0]                                            # (B, T, 16): 4 heads of width 4
    assert (merged[..., 8:12] == 0).all()                       # head 2 of layer 1 is silent
    for h in (0, 1, 3):
        assert (merged[..., 4 * h:4 * h + 4] != 0).any()        # the others are not


def test_ablate_heads_matches_a_manual_zeroing(model):
    idx = torch.randint(11, (2, 8), generator=torch.Generator().manual_seed(2))
    width = 4

    def manual(module, inputs):
        x = inputs[0].clone()
        x[..., 2 * width:3 * width] = 0
        return (x,)

    handle = model.blocks[1].attn.out.register_forward_pre_hook(manual)
    with torch.no_grad():
        expected = model(idx).logits
    handle.remove()
    with torch.no_grad(), ablate_heads(model, [(1, 2)]):
        got = model(idx).logits
    assert torch.equal(got, expected)


def test_ablate_heads_removes_its_hooks_even_on_error(model):
    idx = torch.randint(11, (1, 8), generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        before = model(idx).logits
    with pytest.raises(RuntimeError, match="boom"):
        with ablate_heads(model, [(0, 1), (1, 3)]):
            raise RuntimeError("boom")
    assert all(not block.attn.out._forward_pre_hooks for block in model.blocks)
    with torch.no_grad():
        assert torch.equal(model(idx).logits, before)
    weights = [p.clone() for p in model.parameters()]
    with torch.no_grad(), ablate_heads(model, [(0, 0)]):
        model(idx)
    assert all(torch.equal(a, b) for a, b in zip(weights, model.parameters()))


def test_ablate_heads_arguments_are_checked(model):
    with pytest.raises(ValueError, match=r"`layer` \(=2\) has to be a layer from 0 to 1"):
        with ablate_heads(model, [(2, 0)]):
            pass
    with pytest.raises(ValueError, match=r"`head` \(=4\) has to be a head from 0 to 3"):
        with ablate_heads(model, [(0, 4)]):
            pass
    with pytest.raises(TypeError, match="a \\(layer, head\\) pair"):
        with ablate_heads(model, [1, 2]):
            pass
    with pytest.raises(TypeError, match="`heads` has to be a list"):
        with ablate_heads(model, "0,1"):
            pass
    with pytest.raises(TypeError, match="`model` has to be an llm_book GPT"):
        with ablate_heads(torch.nn.Linear(2, 2), [(0, 0)]):
            pass
