"""Pretraining objectives: losses against hand-computed values, BERT's masking proportions, InfoNCE's minimum."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from llm_book.model import GPTConfig
from llm_book.objectives import (causal_lm_loss, cosine_similarity_matrix, info_nce_loss, mask_tokens,
                                 masked_lm_loss, masked_word_distribution, mean_pool)
from llm_book.training import lm_batch


# ----------------------------------------------------------------------------
# causal LM
# ----------------------------------------------------------------------------
def test_causal_lm_loss_by_hand():
    # Two positions predict; vocab of 2. Position 0 predicts token 1, position 1 predicts token 0.
    logits = torch.tensor([[[0.0, math.log(3.0)], [math.log(4.0), 0.0], [5.0, 5.0]]])  # (1, 3, 2)
    tokens = torch.tensor([[0, 1, 0]])
    p1 = 3 / 4  # softmax([0, log 3])[1]
    p2 = 4 / 5  # softmax([log 4, 0])[0]
    expected_sum = -(math.log(p1) + math.log(p2))
    assert causal_lm_loss(logits, tokens, reduction="sum").item() == pytest.approx(expected_sum)
    assert causal_lm_loss(logits, tokens).item() == pytest.approx(expected_sum / 2)


def test_causal_lm_loss_ignores_padding():
    logits = torch.randn(2, 4, 5, generator=torch.Generator().manual_seed(0))
    tokens = torch.tensor([[1, 2, 3, 4], [1, 2, 0, 0]])
    real = torch.tensor([[True] * 4, [True, True, False, False]])
    loss = causal_lm_loss(logits, tokens, padding_mask=real, reduction="sum")
    log_p = torch.log_softmax(logits, -1)
    expected = -(log_p[0, 0, 2] + log_p[0, 1, 3] + log_p[0, 2, 4] + log_p[1, 0, 2])
    assert loss.item() == pytest.approx(expected.item(), rel=1e-6)
    # the padding's tokens can be anything
    other = tokens.clone()
    other[1, 2:] = 4
    assert causal_lm_loss(logits, other, padding_mask=real).item() == pytest.approx(
        causal_lm_loss(logits, tokens, padding_mask=real).item())


def test_causal_lm_loss_equals_the_models_own_loss(make_gpt, lang, toy_tokenizer):
    model = make_gpt(GPTConfig(vocab_size=len(lang.vocab), block_size=16, n_layer=1, n_head=2, n_embd=16))
    sentences = lang.sample(6, seed=4)
    length = max(len(s) for s in sentences)
    tokens = torch.full((6, length), toy_tokenizer.eos_id)
    real = torch.zeros(6, length, dtype=torch.bool)
    for i, s in enumerate(sentences):
        tokens[i, :len(s)] = torch.tensor(toy_tokenizer.encode(s))
        real[i, :len(s)] = True
    with torch.no_grad():
        ours = causal_lm_loss(model(tokens).logits, tokens, padding_mask=real)
        builtin = model(*lm_batch(sentences, toy_tokenizer)).loss
    assert ours.item() == pytest.approx(builtin.item(), abs=1e-6)


def test_causal_lm_loss_has_gradients_and_keeps_inputs():
    logits = torch.randn(1, 3, 4, requires_grad=True)
    tokens = torch.tensor([[0, 1, 2]])
    before = tokens.clone()
    causal_lm_loss(logits, tokens).backward()
    assert logits.grad is not None and torch.equal(tokens, before)
    assert torch.all(logits.grad[0, -1] == 0)  # the last position predicts nothing


def test_causal_lm_loss_errors():
    logits = torch.zeros(1, 3, 4)
    with pytest.raises(ValueError, match=r"`tokens` has to be a \(batch, T\) = \(1, 3\) tensor"):
        causal_lm_loss(logits, torch.zeros(1, 2, dtype=torch.long))
    with pytest.raises(ValueError, match=r"`logits` has to be a float tensor \(batch, T, vocab\)"):
        causal_lm_loss(torch.zeros(3, 4), torch.zeros(3, dtype=torch.long))
    with pytest.raises(TypeError, match="`logits` has to be a torch.Tensor"):
        causal_lm_loss([[0.0]], torch.zeros(1, 1, dtype=torch.long))
    with pytest.raises(ValueError, match=r"`reduction` \(='max'\) has to be 'mean' or 'sum'"):
        causal_lm_loss(logits, torch.zeros(1, 3, dtype=torch.long), reduction="max")
    with pytest.raises(ValueError, match="`tokens` needs at least 2 positions"):
        causal_lm_loss(torch.zeros(1, 1, 4), torch.zeros(1, 1, dtype=torch.long))
    with pytest.raises(ValueError, match="`padding_mask` has to be a boolean tensor shaped like `tokens`"):
        causal_lm_loss(logits, torch.zeros(1, 3, dtype=torch.long), padding_mask=torch.ones(1, 3))


# ----------------------------------------------------------------------------
# BERT's masking
# ----------------------------------------------------------------------------
def big_batch(n=2000, t=10, vocab=30):
    return torch.randint(vocab, (n, t), generator=torch.Generator().manual_seed(0))


def test_masking_proportions_are_15_and_80_10_10():
    tokens = big_batch()
    inputs, labels = mask_tokens(tokens, mask_id=30, vocab_size=30, generator=torch.Generator().manual_seed(1))
    chosen = labels != -100
    assert chosen.float().mean().item() == pytest.approx(0.15, abs=0.005)
    masked = (inputs[chosen] == 30).float().mean().item()
    changed = ((inputs[chosen] != 30) & (inputs[chosen] != tokens[chosen])).float().mean().item()
    kept = (inputs[chosen] == tokens[chosen]).float().mean().item()
    assert masked == pytest.approx(0.8, abs=0.015)
    # a random draw can hit the original word (1 in 30): a little of the 10 % looks "kept"
    assert changed == pytest.approx(0.1 * 29 / 30, abs=0.01)
    assert kept == pytest.approx(0.1 + 0.1 / 30, abs=0.01)


def test_masking_labels_and_unchosen_positions():
    tokens = big_batch(200)
    inputs, labels = mask_tokens(tokens, mask_id=30, vocab_size=30, generator=torch.Generator().manual_seed(2))
    chosen = labels != -100
    assert torch.equal(labels[chosen], tokens[chosen])
    assert torch.equal(inputs[~chosen], tokens[~chosen])
    assert (inputs[~chosen] != 30).all()


def test_masking_respects_padding_and_special_ids():
    tokens = big_batch(500)
    real = torch.ones_like(tokens, dtype=torch.bool)
    real[:, 6:] = False
    eos = 3
    inputs, labels = mask_tokens(tokens, mask_id=30, vocab_size=30, padding_mask=real, special_ids=[eos],
                                 generator=torch.Generator().manual_seed(3))
    assert (labels[~real] == -100).all() and torch.equal(inputs[~real], tokens[~real])
    assert (labels[tokens == eos] == -100).all()
    random_replacements = (labels != -100) & (inputs != 30) & (inputs != tokens)
    assert random_replacements.any()
    assert not (inputs[random_replacements] == eos).any()


def test_masking_is_repeatable_and_keeps_its_input():
    tokens = big_batch(50)
    before = tokens.clone()
    a = mask_tokens(tokens, 30, 30, generator=torch.Generator().manual_seed(5))
    b = mask_tokens(tokens, 30, 30, generator=torch.Generator().manual_seed(5))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert torch.equal(tokens, before)


def test_masking_extremes():
    tokens = big_batch(20)
    inputs, labels = mask_tokens(tokens, 30, 30, mask_prob=0.0)
    assert torch.equal(inputs, tokens) and (labels == -100).all()
    inputs, labels = mask_tokens(tokens, 30, 30, mask_prob=1.0, replace_probs=(1.0, 0.0, 0.0))
    assert (inputs == 30).all() and torch.equal(labels, tokens)


def test_masking_errors():
    tokens = big_batch(4)
    with pytest.raises(ValueError, match=r"`tokens` has to be a \(batch, T\) tensor of integer ids"):
        mask_tokens(tokens.float(), 30, 30)
    with pytest.raises(ValueError, match=r"`mask_prob` \(=1.5\) has to be a probability in \[0, 1\]"):
        mask_tokens(tokens, 30, 30, mask_prob=1.5)
    with pytest.raises(ValueError, match=r"`replace_probs` \(=\(0.8, 0.1, 0.2\)\) has to be three"):
        mask_tokens(tokens, 30, 30, replace_probs=(0.8, 0.1, 0.2))
    with pytest.raises(ValueError, match=r"`mask_id` \(=-1\) has to be a non-negative integer"):
        mask_tokens(tokens, -1, 30)
    with pytest.raises(ValueError, match=r"`vocab_size` \(=0\) has to be a positive integer"):
        mask_tokens(tokens, 30, 0)
    with pytest.raises(ValueError, match="`padding_mask` has to be a boolean tensor shaped like `tokens`"):
        mask_tokens(tokens, 30, 30, padding_mask=torch.ones(4, 3, dtype=torch.bool))
    with pytest.raises(ValueError, match="no id is left to draw random replacements from"):
        mask_tokens(tokens, 0, 1)


# ----------------------------------------------------------------------------
# masked LM loss
# ----------------------------------------------------------------------------
def test_masked_lm_loss_by_hand():
    logits = torch.zeros(1, 3, 4)
    logits[0, 1] = torch.tensor([0.0, math.log(2.0), 0.0, 0.0])   # P(1) = 2/5
    labels = torch.tensor([[-100, 1, 3]])                           # position 2: uniform, P(3) = 1/4
    expected_sum = -(math.log(2 / 5) + math.log(1 / 4))
    assert masked_lm_loss(logits, labels, reduction="sum").item() == pytest.approx(expected_sum)
    assert masked_lm_loss(logits, labels).item() == pytest.approx(expected_sum / 2)


def test_masked_lm_loss_without_targets_is_zero_and_differentiable():
    logits = torch.randn(2, 3, 4, requires_grad=True)
    loss = masked_lm_loss(logits, torch.full((2, 3), -100))
    assert loss.item() == 0.0
    loss.backward()
    assert torch.all(logits.grad == 0)


def test_masked_lm_loss_errors():
    with pytest.raises(ValueError, match=r"`labels` has to be a \(batch, T\) = \(1, 3\) tensor"):
        masked_lm_loss(torch.zeros(1, 3, 4), torch.zeros(1, 2, dtype=torch.long))
    with pytest.raises(ValueError, match=r"`reduction` \(='none'\) has to be 'mean' or 'sum'"):
        masked_lm_loss(torch.zeros(1, 3, 4), torch.zeros(1, 3, dtype=torch.long), reduction="none")


def test_masked_word_distribution_by_hand(lang):
    # P(subject | ... that the dog chased sleep on the mat) is proportional to
    # P(subject) * P(mat | animal): cats 0.2*0.5, dogs 0.15*0.3, birds 0.1*0.1 (plural verb: no singulars)
    words = "The <mask> that the dog chased sleep on the mat <eos>".split()
    p = masked_word_distribution(lang, words, 1)
    total = 0.1 + 0.045 + 0.01
    assert list(p) == ["cats", "dogs", "birds"]
    assert p["cats"] == pytest.approx(0.1 / total) and p["birds"] == pytest.approx(0.01 / total)
    assert sum(p.values()) == pytest.approx(1.0)
    place = masked_word_distribution(lang, "The cat sat on the mat <eos>".split(), 5)
    assert place == pytest.approx({"mat": 0.5, "sofa": 0.3, "box": 0.2})


def test_masked_word_distribution_errors(lang):
    with pytest.raises(ValueError, match=r"`position` \(=9\) has to be an index into `words` \(0 to 6\)"):
        masked_word_distribution(lang, "The cat sat on the mat <eos>".split(), 9)
    with pytest.raises(ValueError, match="no sentence of the language matches"):
        masked_word_distribution(lang, "The cat sat on the log <eos>".split(), 2)
    with pytest.raises(TypeError, match="`words` has to be a list of words"):
        masked_word_distribution(lang, "The cat", 1)


# ----------------------------------------------------------------------------
# contrastive: cosine similarity, InfoNCE, pooling
# ----------------------------------------------------------------------------
def test_cosine_similarity_matrix_matches_torch():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(3, 5, generator=g), torch.randn(4, 5, generator=g)
    sim = cosine_similarity_matrix(a, b)
    assert sim.shape == (3, 4)
    assert torch.allclose(sim, F.cosine_similarity(a[:, None], b[None], dim=-1), atol=1e-6)
    assert torch.allclose(cosine_similarity_matrix(a).diagonal(), torch.ones(3), atol=1e-6)
    with pytest.raises(ValueError, match="`a` and `b` need the same embedding size, got 5 and 2"):
        cosine_similarity_matrix(a, torch.zeros(2, 2))
    with pytest.raises(ValueError, match=r"`a` has to be a 2-D \(rows, dim\) tensor"):
        cosine_similarity_matrix(torch.zeros(5))


def test_info_nce_by_hand_for_two_pairs():
    # a = b = the two unit vectors e1, e2: cosines 1 on the diagonal, 0 off it.
    a = torch.eye(2)
    t = 0.5
    expected = -math.log(math.exp(1 / t) / (math.exp(1 / t) + math.exp(0)))
    assert info_nce_loss(a, a, temperature=t).item() == pytest.approx(expected)
    assert info_nce_loss(a, a, temperature=t, symmetric=False).item() == pytest.approx(expected)


def test_info_nce_minimum_when_pairs_match():
    n, t = 6, 0.1
    a = torch.eye(n)                      # orthonormal: the best separated embeddings there are
    best = info_nce_loss(a, a, temperature=t).item()
    assert best == pytest.approx(math.log(1 + (n - 1) * math.exp(-1 / t)), abs=1e-6)
    g = torch.Generator().manual_seed(0)
    for _ in range(5):                    # any mismatch of the pairs costs more
        shuffled = a[torch.randperm(n, generator=g)]
        if not torch.equal(shuffled, a):
            assert info_nce_loss(a, shuffled, temperature=t).item() > best + 1
        noisy = a + 0.3 * torch.randn(n, n, generator=g)
        assert info_nce_loss(a, noisy, temperature=t).item() > best


def test_info_nce_is_log_n_without_information():
    same = torch.ones(5, 3)               # every embedding alike: the partner is a 1-in-5 guess
    assert info_nce_loss(same, same).item() == pytest.approx(math.log(5))


def test_info_nce_symmetric_averages_both_directions():
    g = torch.Generator().manual_seed(1)
    a, b = torch.randn(4, 3, generator=g), torch.randn(4, 3, generator=g)
    one = info_nce_loss(a, b, symmetric=False)
    other = info_nce_loss(b, a, symmetric=False)
    assert info_nce_loss(a, b).item() == pytest.approx((one.item() + other.item()) / 2)


def test_info_nce_errors():
    a = torch.zeros(3, 4)
    with pytest.raises(ValueError, match=r"`temperature` \(=0\) has to be a strictly positive float"):
        info_nce_loss(a, a, temperature=0)
    with pytest.raises(ValueError, match=r"`a` and `b` have to be 2-D tensors of the same shape \(N, D\), "
                                         r"got \(3, 4\) and \(2, 4\)"):
        info_nce_loss(a, torch.zeros(2, 4))
    with pytest.raises(ValueError, match="InfoNCE needs at least 2 pairs"):
        info_nce_loss(torch.zeros(1, 4), torch.zeros(1, 4))


def test_mean_pool_ignores_padding():
    hidden = torch.arange(12.0).reshape(1, 4, 3).repeat(2, 1, 1)
    real = torch.tensor([[True, True, False, False], [True, True, True, True]])
    pooled = mean_pool(hidden, real)
    assert torch.allclose(pooled[0], hidden[0, :2].mean(0)) and torch.allclose(pooled[1], hidden[1].mean(0))
    assert torch.allclose(mean_pool(hidden), hidden.mean(1))
    with pytest.raises(ValueError, match="`padding_mask` has a row with no real token"):
        mean_pool(hidden, torch.zeros(2, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match=r"`hidden` has to be a \(batch, T, C\) tensor"):
        mean_pool(torch.zeros(3, 4))
    with pytest.raises(ValueError, match=r"`padding_mask` has to be a boolean \(batch, T\) = \(2, 4\)"):
        mean_pool(hidden, torch.ones(2, 4))
