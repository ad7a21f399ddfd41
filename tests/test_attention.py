"""Attention: the formula against PyTorch's, and SelfAttention against nn.MultiheadAttention."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from llm_book.attention import (LayerCache, RotaryEmbedding, SelfAttention, apply_rotary, causal_mask,
                                rotate_half, scaled_dot_product_attention)

B, H, T, D = 2, 3, 5, 8
EMBED, HEADS = 16, 4


@pytest.fixture
def qkv():
    g = torch.Generator().manual_seed(0)
    return tuple(torch.randn(B, H, T, D, generator=g, dtype=torch.float64) for _ in range(3))


def random_mask(shape, seed=0):
    """A boolean mask with at least one True per row (the diagonal)."""
    g = torch.Generator().manual_seed(seed)
    mask = torch.rand(shape, generator=g) < 0.5
    return mask | torch.eye(shape[-2], shape[-1], dtype=torch.bool)


# ----------------------------------------------------------------------------
# scaled_dot_product_attention
# ----------------------------------------------------------------------------
def test_matches_torch_without_mask(qkv):
    q, k, v = qkv
    out, weights = scaled_dot_product_attention(q, k, v)
    assert out.shape == (B, H, T, D) and weights.shape == (B, H, T, T)
    torch.testing.assert_close(out, F.scaled_dot_product_attention(q, k, v), atol=1e-6, rtol=0)


@pytest.mark.parametrize("mask_shape", [(T, T), (B, 1, T, T), (B, H, T, T)])
def test_matches_torch_with_boolean_mask(qkv, mask_shape):
    q, k, v = qkv
    mask = random_mask(mask_shape)
    out, weights = scaled_dot_product_attention(q, k, v, mask)
    expected = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    torch.testing.assert_close(out, expected, atol=1e-6, rtol=0)
    # Masked-out keys get exactly zero weight; each row is a distribution.
    assert (weights.masked_select(~mask.expand_as(weights)) == 0).all()
    torch.testing.assert_close(weights.sum(-1), torch.ones(B, H, T, dtype=weights.dtype))


def test_weights_are_the_softmax_of_scaled_scores(qkv):
    q, k, v = qkv
    out, weights = scaled_dot_product_attention(q, k, v)
    expected = torch.softmax(q @ k.transpose(-2, -1) / D**0.5, dim=-1)
    torch.testing.assert_close(weights, expected, atol=1e-12, rtol=0)
    torch.testing.assert_close(out, weights @ v, atol=1e-12, rtol=0)
    assert (weights >= 0).all()


def test_keys_and_values_of_another_length():
    g = torch.Generator().manual_seed(1)
    q, k, v = torch.randn(4, 8, generator=g), torch.randn(6, 8, generator=g), torch.randn(6, 3, generator=g)
    out, weights = scaled_dot_product_attention(q, k, v, causal_mask(4, 6))
    assert out.shape == (4, 3) and weights.shape == (4, 6)
    torch.testing.assert_close(out, F.scaled_dot_product_attention(q, k, v, attn_mask=causal_mask(4, 6)),
                               atol=1e-6, rtol=0)


def test_inputs_are_not_modified(qkv):
    q, k, v = qkv
    mask = random_mask((T, T))
    copies = [t.clone() for t in (q, k, v, mask)]
    scaled_dot_product_attention(q, k, v, mask)
    for before, after in zip(copies, (q, k, v, mask)):
        assert torch.equal(before, after)


def test_error_mismatched_d():
    q, k = torch.randn(3, 8), torch.randn(3, 4)
    with pytest.raises(ValueError, match=r"`q` and `k` need the same last dimension d, got 8 and 4"):
        scaled_dot_product_attention(q, k, k)


def test_error_mismatched_positions():
    with pytest.raises(ValueError, match=r"`k` and `v` need the same number of positions, got 3 and 2"):
        scaled_dot_product_attention(torch.randn(3, 4), torch.randn(3, 4), torch.randn(2, 4))


def test_error_not_a_tensor_or_too_few_dims():
    with pytest.raises(TypeError, match=r"`k` has to be a torch.Tensor, got list"):
        scaled_dot_product_attention(torch.randn(3, 4), [[1.0]], torch.randn(3, 4))
    with pytest.raises(ValueError, match=r"`q` has to have at least 2 dimensions.*got shape \(4,\)"):
        scaled_dot_product_attention(torch.randn(4), torch.randn(3, 4), torch.randn(3, 4))


def test_error_non_boolean_mask(qkv):
    q, k, v = qkv
    with pytest.raises(TypeError, match=r"`mask` has to be a boolean tensor.*got dtype torch.int64"):
        scaled_dot_product_attention(q, k, v, torch.ones(T, T, dtype=torch.long))


def test_error_mask_not_broadcastable(qkv):
    q, k, v = qkv
    with pytest.raises(ValueError, match=r"`mask` of shape \(3, 3\) does not broadcast.*\(2, 3, 5, 5\)"):
        scaled_dot_product_attention(q, k, v, torch.ones(3, 3, dtype=torch.bool))


def test_error_mask_row_all_false(qkv):
    q, k, v = qkv
    mask = torch.ones(T, T, dtype=torch.bool)
    mask[2] = False
    with pytest.raises(ValueError, match=r"`mask` leaves a query with no key.*all False"):
        scaled_dot_product_attention(q, k, v, mask)


# ----------------------------------------------------------------------------
# causal_mask and LayerCache
# ----------------------------------------------------------------------------
def test_causal_mask_is_the_lower_triangle():
    expected = torch.tensor([[1, 0, 0], [1, 1, 0], [1, 1, 1]], dtype=torch.bool)
    assert torch.equal(causal_mask(3), expected)
    assert causal_mask(3).dtype == torch.bool


def test_causal_mask_offset_for_cached_keys():
    # The 2 queries are the last 2 of 4 positions: query 0 is position 2.
    expected = torch.tensor([[1, 1, 1, 0], [1, 1, 1, 1]], dtype=torch.bool)
    assert torch.equal(causal_mask(2, 4), expected)
    assert torch.equal(causal_mask(1, 5), torch.ones(1, 5, dtype=torch.bool))


def test_causal_mask_rejects_more_queries_than_keys():
    with pytest.raises(ValueError, match=r"`t_q` \(=4\) cannot exceed `t_k` \(=2\)"):
        causal_mask(4, 2)


def test_layer_cache_appends_along_positions():
    cache = LayerCache()
    assert len(cache) == 0
    k1, v1 = torch.randn(1, 2, 3, 4), torch.randn(1, 2, 3, 4)
    cache.append(k1, v1)
    k, v = cache.append(torch.zeros(1, 2, 1, 4), torch.ones(1, 2, 1, 4))
    assert len(cache) == 4 and k.shape == (1, 2, 4, 4)
    assert torch.equal(k[:, :, :3], k1) and torch.equal(v[:, :, 3], torch.ones(1, 2, 4))


# ----------------------------------------------------------------------------
# SelfAttention
# ----------------------------------------------------------------------------
def make_attention(causal: bool, seed: int = 0, **kwargs) -> SelfAttention:
    torch.manual_seed(seed)
    return SelfAttention(EMBED, HEADS, causal=causal, **kwargs).eval()


@pytest.fixture
def x():
    return torch.randn(2, 6, EMBED, generator=torch.Generator().manual_seed(42))


def by_hand(attn: SelfAttention, x: torch.Tensor, is_causal: bool) -> torch.Tensor:
    """The module's projections, PyTorch's attention."""
    b, t, c = x.shape
    split = lambda y: y.view(b, t, HEADS, c // HEADS).transpose(1, 2)  # noqa: E731
    y = F.scaled_dot_product_attention(split(attn.query(x)), split(attn.key(x)), split(attn.value(x)),
                                       is_causal=is_causal)
    return attn.out(y.transpose(1, 2).reshape(b, t, c))


def test_matches_multihead_attention_with_copied_weights(x):
    attn = make_attention(causal=False)
    mha = nn.MultiheadAttention(EMBED, HEADS, batch_first=True).eval()
    with torch.no_grad():
        mha.in_proj_weight.copy_(torch.cat([attn.query.weight, attn.key.weight, attn.value.weight]))
        mha.in_proj_bias.copy_(torch.cat([attn.query.bias, attn.key.bias, attn.value.bias]))
        mha.out_proj.weight.copy_(attn.out.weight)
        mha.out_proj.bias.copy_(attn.out.bias)
    out, weights = attn(x, output_attentions=True)
    expected, expected_weights = mha(x, x, x, need_weights=True, average_attn_weights=False)
    torch.testing.assert_close(out, expected, atol=1e-6, rtol=0)
    torch.testing.assert_close(weights, expected_weights, atol=1e-6, rtol=0)


def test_non_causal_matches_torch_attention_by_hand(x):
    attn = make_attention(causal=False)
    torch.testing.assert_close(attn(x), by_hand(attn, x, is_causal=False), atol=1e-6, rtol=0)


def test_causal_matches_torch_is_causal(x):
    attn = make_attention(causal=True)
    torch.testing.assert_close(attn(x), by_hand(attn, x, is_causal=True), atol=1e-6, rtol=0)


def test_causal_future_tokens_do_not_change_earlier_outputs(x):
    attn = make_attention(causal=True)
    changed = x.clone()
    changed[:, 4:] = torch.randn(2, 2, EMBED)
    out, out_changed = attn(x), attn(changed)
    torch.testing.assert_close(out[:, :4], out_changed[:, :4], atol=0, rtol=0)
    assert not torch.allclose(out[:, 4:], out_changed[:, 4:])


def test_non_causal_outputs_see_the_future(x):
    attn = make_attention(causal=False)
    changed = x.clone()
    changed[:, -1] += 1.0
    assert not torch.allclose(attn(x)[:, 0], attn(changed)[:, 0])


def test_output_attentions_shape_and_rows(x):
    attn = make_attention(causal=True)
    out, weights = attn(x, output_attentions=True)
    assert out.shape == x.shape
    assert weights.shape == (2, HEADS, 6, 6)
    torch.testing.assert_close(weights.sum(-1), torch.ones(2, HEADS, 6))
    assert (weights.triu(diagonal=1) == 0).all()
    fused = attn(x)  # no weights: just the output tensor, from the fused kernel
    assert isinstance(fused, torch.Tensor)
    torch.testing.assert_close(fused, out, atol=1e-5, rtol=0)


@pytest.mark.parametrize("causal", [False, True])
def test_padding_does_not_leak_into_real_tokens(x, causal):
    attn = make_attention(causal=causal)
    # Right padding: sequence 0 has 4 real tokens, sequence 1 has 5.
    padding_mask = torch.tensor([[1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 0]], dtype=torch.bool)
    changed = x.clone()
    changed[~padding_mask] = torch.randn(int((~padding_mask).sum()), EMBED)
    out, weights = attn(x, output_attentions=True, padding_mask=padding_mask)
    out_changed = attn(changed, padding_mask=padding_mask)
    torch.testing.assert_close(out[padding_mask], out_changed[padding_mask], atol=1e-6, rtol=0)
    assert (weights[0, :, :, 4:] == 0).all() and (weights[1, :, :, 5:] == 0).all()
    # Without the mask, the padding does change the real tokens' outputs.
    if not causal:
        assert not torch.allclose(attn(x)[0, :4], attn(changed)[0, :4])


def test_cache_token_by_token_equals_all_at_once(x):
    attn = make_attention(causal=True)
    full = attn(x)
    cache = LayerCache()
    steps = [attn(x[:, t:t + 1], cache=cache) for t in range(x.shape[1])]
    assert len(cache) == x.shape[1]
    torch.testing.assert_close(torch.cat(steps, dim=1), full, atol=1e-6, rtol=0)


def test_cache_with_a_prompt_then_single_tokens(x):
    attn = make_attention(causal=True)
    cache = LayerCache()
    prompt_out = attn(x[:, :3], cache=cache)
    rest, weights = attn(x[:, 3:], cache=cache, output_attentions=True)
    assert weights.shape == (2, HEADS, 3, 6)
    torch.testing.assert_close(torch.cat([prompt_out, rest], dim=1), attn(x), atol=1e-6, rtol=0)


def test_dropout_only_while_training(x):
    attn = make_attention(causal=True, dropout=0.5)
    plain = make_attention(causal=True, dropout=0.0)
    plain.load_state_dict(attn.state_dict())
    torch.testing.assert_close(attn(x), plain(x), atol=0, rtol=0)  # eval: no dropout
    attn.train()
    torch.manual_seed(0)
    first = attn(x)
    second = attn(x)
    assert not torch.allclose(first, second)
    assert not torch.allclose(first, plain(x))
    attn.eval()
    torch.testing.assert_close(attn(x), plain(x), atol=0, rtol=0)


def test_input_is_not_modified(x):
    before = x.clone()
    make_attention(causal=True)(x)
    assert torch.equal(x, before)


@pytest.mark.parametrize("embed_dim, num_heads, pattern", [
    (0, 1, r"`embed_dim` \(=0\) has to be a positive integer"),
    (-4, 2, r"`embed_dim` \(=-4\) has to be a positive integer"),
    (16.0, 2, r"`embed_dim` \(=16.0\) has to be a positive integer"),
    (True, 1, r"`embed_dim` \(=True\) has to be a positive integer"),
    (16, 0, r"`num_heads` \(=0\) has to be a positive integer"),
    (16, 2.0, r"`num_heads` \(=2.0\) has to be a positive integer"),
    (10, 3, r"`embed_dim` \(=10\) has to be divisible by `num_heads` \(=3\)"),
])
def test_bad_sizes(embed_dim, num_heads, pattern):
    with pytest.raises(ValueError, match=pattern):
        SelfAttention(embed_dim, num_heads)


@pytest.mark.parametrize("dropout", [1.0, -0.1, "0.1", 1.5])
def test_bad_dropout(dropout):
    with pytest.raises(ValueError, match=rf"`dropout` \(={dropout!r}\) has to be a float in \[0, 1\)"):
        SelfAttention(EMBED, HEADS, dropout=dropout)


@pytest.mark.parametrize("bad, shape", [
    (torch.randn(6, EMBED), r"\(6, 16\)"),
    (torch.randn(2, 6, 8), r"\(2, 6, 8\)"),
    ([[1.0]], "list"),
])
def test_bad_x(bad, shape):
    with pytest.raises(ValueError, match=rf"`x` has to be a tensor of shape \(batch, T, 16\), got {shape}"):
        make_attention(causal=False)(bad)


@pytest.mark.parametrize("mask, described", [
    (torch.ones(2, 5, dtype=torch.bool), r"torch.bool \(2, 5\)"),
    (torch.ones(2, 6, dtype=torch.long), r"torch.int64 \(2, 6\)"),
    (torch.ones(1, 6, dtype=torch.bool), r"torch.bool \(1, 6\)"),
])
def test_bad_padding_mask(x, mask, described):
    pattern = rf"`padding_mask` has to be a boolean tensor of shape \(batch, T_k\) = \(2, 6\).*got {described}"
    with pytest.raises(ValueError, match=pattern):
        make_attention(causal=False)(x, padding_mask=mask)


def test_layer_cache_views_stay_correct_as_its_buffer_grows():
    """The cache doubles its buffer when full; earlier keys must survive every regrowth."""
    from llm_book.attention import LayerCache

    cache = LayerCache()
    steps = [torch.randn(2, 3, 1, 4) for _ in range(40)]  # past the first capacity (16) twice
    for i, k in enumerate(steps):
        keys, values = cache.append(k, -k)
        assert keys.shape == (2, 3, i + 1, 4) and len(cache) == i + 1
        assert torch.equal(keys, torch.cat(steps[: i + 1], dim=-2))
        assert torch.equal(values, -keys)


def test_layer_cache_keeps_gradients_flowing():
    from llm_book.attention import LayerCache

    cache = LayerCache()
    k = torch.randn(1, 1, 2, 4, requires_grad=True)
    keys, _ = cache.append(k, k)
    keys2, _ = cache.append(k * 2, k * 2)
    keys2.sum().backward()
    assert torch.allclose(k.grad, torch.full_like(k, 3.0))  # 1 from the first append, 2 from the second


# ----------------------------------------------------------------------------
# Rotary embeddings, grouped-query attention, the fused kernel
# ----------------------------------------------------------------------------
def test_rotate_half_is_llamas_pairing():
    x = torch.arange(1.0, 7.0)  # pairs (1, 4), (2, 5), (3, 6)
    assert rotate_half(x).tolist() == [-4.0, -5.0, -6.0, 1.0, 2.0, 3.0]


def test_rotary_angles_and_lengths():
    rope = RotaryEmbedding(8, theta=100.0)
    assert "inv_freq" not in rope.state_dict()  # computed, not stored in checkpoints
    cos, sin = rope(3, 2)
    assert cos.shape == sin.shape == (2, 8)
    # pair i turns by position * theta ** (-2i / d): at position 3, pair 1 by 3 / 100 ** (2 / 8)
    torch.testing.assert_close(cos[0, 1], torch.tensor(math.cos(3 / 100 ** 0.25)))
    torch.testing.assert_close(cos[:, :4], cos[:, 4:])  # dimension i pairs with i + d/2
    x = torch.randn(2, 3, 2, 8, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(apply_rotary(x, cos, sin).norm(dim=-1), x.norm(dim=-1))  # a rotation


def test_rotary_scores_depend_only_on_the_distance():
    rope = RotaryEmbedding(8)
    g = torch.Generator().manual_seed(0)
    q, k = torch.randn(8, generator=g, dtype=torch.float64), torch.randn(8, generator=g, dtype=torch.float64)

    def score(m, n):
        (cq, sq), (ck, sk) = rope(m, 1, dtype=torch.float64), rope(n, 1, dtype=torch.float64)
        return (apply_rotary(q, cq, sq) @ apply_rotary(k, ck, sk).T).item()

    assert score(7, 3) == pytest.approx(score(4, 0), abs=1e-5) == pytest.approx(score(20, 16), abs=1e-5)
    assert score(7, 3) != pytest.approx(score(7, 2), abs=1e-3)


@pytest.mark.parametrize("kwargs, message", [
    (dict(head_dim=7), r"`head_dim` \(=7\) has to be an even integer >= 2"),
    (dict(head_dim=8, theta=1.0), r"`theta` \(=1.0\) has to be a number > 1"),
])
def test_rotary_embedding_checks_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        RotaryEmbedding(**kwargs)


def test_self_attention_checks_kv_heads_and_rope_head_size():
    with pytest.raises(ValueError, match=r"`num_kv_heads` \(=3\) has to be a positive integer that divides "
                                         r"`num_heads` \(=4\)"):
        SelfAttention(16, 4, num_kv_heads=3)
    with pytest.raises(ValueError, match=r"rotary embeddings need an even head size; embed_dim // num_heads = "
                                         r"12 // 4 = 3"):
        SelfAttention(12, 4, rope_theta=10000.0)


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("kwargs", [{}, dict(num_kv_heads=2), dict(num_kv_heads=1, rope_theta=10000.0),
                                    dict(rope_theta=500.0)])
def test_fused_output_is_the_formulas(x, causal, kwargs):
    attn = make_attention(causal=causal, **kwargs)
    padding_mask = torch.tensor([[1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 1]], dtype=torch.bool)
    with torch.no_grad():
        for mask in (None, padding_mask):
            explicit, weights = attn(x, output_attentions=True, padding_mask=mask)
            fused = attn(x, padding_mask=mask)
            assert weights.shape == (2, HEADS, 6, 6)  # keys and values repeated for every query head
            torch.testing.assert_close(fused, explicit, atol=1e-5, rtol=0)


@pytest.mark.parametrize("kwargs", [{}, dict(num_kv_heads=2, rope_theta=10000.0)])
def test_fused_output_with_a_cache(x, kwargs):
    attn = make_attention(causal=True, **kwargs)
    caches = LayerCache(), LayerCache()
    with torch.no_grad():
        whole = attn(x)
        fused = [attn(x[:, :2], cache=caches[0]), attn(x[:, 2:4], cache=caches[0])]  # two queries after a cache
        fused += [attn(x[:, t:t + 1], cache=caches[0]) for t in range(4, 6)]             # then one at a time
        explicit = [attn(x[:, :2], cache=caches[1], output_attentions=True)[0],
                    attn(x[:, 2:4], cache=caches[1], output_attentions=True)[0],  # two queries after a cache
                    attn(x[:, 4:], cache=caches[1], output_attentions=True)[0]]
    torch.testing.assert_close(torch.cat(fused, dim=1), whole, atol=1e-5, rtol=0)
    torch.testing.assert_close(torch.cat(explicit, dim=1), whole, atol=1e-5, rtol=0)
    assert caches[0].k.shape == (2, attn.num_kv_heads, 6, EMBED // HEADS)
