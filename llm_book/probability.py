"""Probabilities of text under a model: the chain rule, log-likelihood, perplexity.

    P(x_1, ..., x_T) = prod_t P(x_t | x_<t)          (the chain rule)
    log P            = sum_t log P(x_t | x_<t)       (the log-likelihood)
    perplexity       = exp(-mean_t log P(x_t | x_<t))
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import torch

from llm_book._checks import check_int, check_real
from llm_book.model import model_device
from llm_book.threads import runs_model_threads


def chain_rule(conditionals: Sequence[float]) -> list[float]:
    """Running product of conditional probabilities.

    Example:
        >>> [round(p, 4) for p in chain_rule([0.2, 0.4, 0.6, 0.8])]
        [0.2, 0.08, 0.048, 0.0384]
    """
    out, running = [], 1.0
    for i, p in enumerate(conditionals):
        p = check_real(f"conditionals[{i}]", p, "a probability in [0, 1]", minimum=0, maximum=1)
        running *= p
        out.append(running)
    return out


@runs_model_threads
@torch.no_grad()
def sequence_log_probs(model, idx: torch.Tensor) -> torch.Tensor:
    """log P(x_t | x_<t) for t = 1..T-1 of each sequence in ``idx`` ``(batch, T)``.

    The first token has no prediction (it is the context everything starts from).

    Returns:
        ``(batch, T - 1)`` log-probabilities (natural log), on the device of ``idx``
        (the model runs on its own device, e.g. a GPU after ``train``).
    """
    if not isinstance(idx, torch.Tensor) or idx.dim() != 2 or idx.shape[1] < 2:
        shape = tuple(idx.shape) if isinstance(idx, torch.Tensor) else type(idx).__name__
        raise ValueError(f"`idx` has to be a (batch, T) tensor of token ids with T >= 2, got {shape}")
    was_training = model.training
    model.eval()
    ids = idx.to(model_device(model))
    logits = model(ids).logits[:, :-1, :]                  # (B, T-1, vocab): predictions for x_1..x_{T-1}
    model.train(was_training)
    log_probs = torch.log_softmax(logits.float(), dim=-1)
    return log_probs.gather(-1, ids[:, 1:, None]).squeeze(-1).to(idx.device)  # (B, T-1)


def perplexity(log_probs: torch.Tensor, mask: torch.Tensor | None = None) -> float:
    """exp of the mean negative log-probability (over the positions ``mask`` keeps)."""
    if not isinstance(log_probs, torch.Tensor) or log_probs.numel() == 0:
        raise ValueError("`log_probs` has to be a non-empty tensor of log-probabilities")
    if mask is not None:
        if not isinstance(mask, torch.Tensor) or mask.dtype != torch.bool or mask.shape != log_probs.shape:
            raise ValueError(
                f"`mask` has to be a boolean tensor shaped like `log_probs` {tuple(log_probs.shape)}"
            )
        if not mask.any():
            raise ValueError("`mask` keeps no position; perplexity of nothing is undefined")
        log_probs = log_probs[mask]
    if torch.isnan(log_probs).any():
        raise ValueError("`log_probs` holds NaN; log-probabilities are numbers <= 0 (or -inf)")
    if (log_probs > 1e-6).any():
        raise ValueError("`log_probs` holds positive values; log-probabilities are <= 0")
    mean_nll = -log_probs.float().mean().item()
    return math.exp(mean_nll) if mean_nll < 709 else math.inf  # beyond exp(709): a float overflows


def _check_vocabulary(tokenizer, vocab_size: int | None) -> None:
    """The tokenizer has to number the words the way the model does: one id per output logit."""
    if vocab_size is not None and len(tokenizer) != vocab_size:
        raise ValueError(
            f"the tokenizer has {len(tokenizer)} words but the model predicts {vocab_size} tokens "
            f"(config.vocab_size or the width of its logits); use the tokenizer the model was "
            f"trained with"
        )


def _model_vocab_size(model) -> int | None:
    return getattr(getattr(model, "config", None), "vocab_size", None)


@runs_model_threads
@torch.no_grad()
def next_token_distribution(model, tokenizer, prefix: Sequence[str]) -> dict[str, float]:
    """The model's P(next word | prefix) as ``{word: probability}`` over the whole vocabulary."""
    _check_vocabulary(tokenizer, _model_vocab_size(model))
    if isinstance(prefix, str) or len(prefix) == 0:
        raise ValueError(f"`prefix` has to be a non-empty list of words (the model predicts what "
                         f"follows at least one word, e.g. ['The']), got {prefix!r}")
    idx = torch.tensor([tokenizer.encode(prefix)], device=model_device(model))
    was_training = model.training
    model.eval()
    probs = torch.softmax(model(idx).logits[0, -1].float(), dim=-1).cpu()
    model.train(was_training)
    _check_vocabulary(tokenizer, probs.shape[-1])
    return dict(zip(tokenizer.vocab, probs.tolist()))


def model_sentence_probability(model, tokenizer, words: Sequence[str]) -> float:
    """P(words[1:] | words[0]) under the model, by the chain rule (the first word is given)."""
    _check_vocabulary(tokenizer, _model_vocab_size(model))
    if isinstance(words, str) or len(words) < 2:
        raise ValueError(f"`words` has to be a list of at least 2 words (the first is given, the "
                         f"others are scored), got {words!r}")
    idx = torch.tensor([tokenizer.encode(words)])
    return math.exp(sequence_log_probs(model, idx).sum().item())


@runs_model_threads
@torch.no_grad()
def language_fit(model, tokenizer, language, n_sentences: int = 2000, seed: int = 0) -> dict[str, float]:
    """How close a model is to the toy language's true distribution.

    Over ``n_sentences`` sentences sampled from ``language``, at every position
    that predicts a token, compares the model's next-token distribution with the
    exact one.

    Returns:
        ``{"kl": mean KL(true || model) in nats, "cross_entropy": model's mean
        -log P(next token) in nats per token, "entropy": the language's entropy per
        token (the floor)}``.
    """
    n_sentences = check_int("n_sentences", n_sentences, "a positive integer (sentences to sample)",
                            minimum=1)
    seed = check_int("seed", seed, "an integer (the same seed, the same sentences)")
    _check_vocabulary(tokenizer, _model_vocab_size(model))
    sentences = language.sample(n_sentences, seed=seed)
    length = max(len(s) for s in sentences)
    idx = torch.full((len(sentences), length), tokenizer.eos_id)
    for i, s in enumerate(sentences):
        idx[i, : len(s)] = torch.tensor(tokenizer.encode(s))
    was_training = model.training
    model.eval()
    logits = model(idx.to(model_device(model))).logits
    log_q = torch.log_softmax(logits.float(), dim=-1).cpu()   # (N, L, vocab), compared on the CPU
    model.train(was_training)
    _check_vocabulary(tokenizer, log_q.shape[-1])

    # Exact next-token distributions, cached per distinct prefix.
    cache: dict[tuple[str, ...], torch.Tensor] = {}
    kl_total, ce_total, count = 0.0, 0.0, 0
    for i, s in enumerate(sentences):
        for t in range(1, len(s)):
            prefix = tuple(s[:t])
            if prefix not in cache:
                p = torch.zeros(len(tokenizer))
                for word, prob in language.next_token_probs(list(prefix)).items():
                    p[tokenizer.token_to_id[word]] = prob
                cache[prefix] = p
            p = cache[prefix]
            lq = log_q[i, t - 1]
            support = p > 0
            kl_total += (p[support] * (p[support].log() - lq[support])).sum().item()
            ce_total += -lq[tokenizer.token_to_id[s[t]]].item()
            count += 1
    return {"kl": kl_total / count, "cross_entropy": ce_total / count,
            "entropy": language.entropy_per_token()}


@runs_model_threads
@torch.no_grad()
def language_cross_entropy(model, tokenizer, language, chunk: int | None = None) -> float:
    """The model's exact cross-entropy on the whole toy language, in nats per predicted token.

    Sums over every sentence s of the language: P(s) * (-log Q(s)), divided by the
    expected number of predicted tokens; no sampling noise.  Compare it with
    ``language.entropy_per_token()``, the floor no model can beat.

    Args:
        chunk: sentences per forward pass (None: all at once); a smaller chunk needs less memory.
    """
    from llm_book.training import lm_batch

    _check_vocabulary(tokenizer, _model_vocab_size(model))
    sentences = language.sentences()
    idx, targets = lm_batch([w for w, _ in sentences], tokenizer)            # (N, T)
    probs = torch.tensor([p for _, p in sentences], dtype=torch.float64)
    chunk = len(sentences) if chunk is None else check_int("chunk", chunk, "a positive integer or None",
                                                             minimum=1)
    was_training = model.training
    model.eval()
    nll_sum, tokens = 0.0, 0.0
    with torch.no_grad(), _restore_mode(model, was_training):
        for start in range(0, len(sentences), chunk):
            logits = model(idx[start:start + chunk].to(model_device(model))).logits
            _check_vocabulary(tokenizer, logits.shape[-1])
            log_q = torch.log_softmax(logits.double(), dim=-1).cpu()        # (n, T, vocab)
            t, p = targets[start:start + chunk], probs[start:start + chunk]
            real = t != -100
            nll = -log_q.gather(-1, t.clamp(min=0)[..., None]).squeeze(-1) * real  # (n, T)
            nll_sum += float((p * nll.sum(1)).sum())
            tokens += float((p * real.sum(1)).sum())
    return nll_sum / tokens


@contextmanager
def _restore_mode(model, training: bool) -> Iterator[None]:
    """Put ``model`` back in training or eval mode on exit, also after an error."""
    try:
        yield
    finally:
        model.train(training)
