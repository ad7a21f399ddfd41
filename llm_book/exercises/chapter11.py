"""Checkers for Chapter 11's exercises (chat templates, instruction tuning, preference tuning with DPO)."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F

from llm_book.exercises._checking import (Verdict, _call, _close, _describe, _first_mistake, _number, _numbers,
                                          _verdict, checker)
from llm_book.exercises._checking import _generator, _hidden_cases


# ----------------------------------------------------------------------------
# Reading masks
# ----------------------------------------------------------------------------
def _mask(x, n: int) -> tuple[list[bool] | None, str | None]:
    """``n`` booleans from a list/tuple of bools or 0/1, or a 1-D bool or 0/1 tensor/array; or a hint."""
    what = f"a list of {n} True/False values, one per token"
    if isinstance(x, (torch.Tensor, np.ndarray)):
        if x.ndim != 1:
            return None, f"return {what}, got {_describe(x)}."
        x = x.tolist()
    if not isinstance(x, (list, tuple)):
        return None, f"return {what}, got {_describe(x)}."
    out = []
    for v in x:
        if isinstance(v, (bool, np.bool_)) or (isinstance(v, (int, np.integer)) and v in (0, 1)):
            out.append(bool(v))
        else:
            return None, f"return {what}; one item is {_describe(v, returned=False)}."
    if len(out) != n:
        return None, f"return {what}: the conversation has {n} tokens, got {len(out)} values."
    return out, None


# ----------------------------------------------------------------------------
# 11.1 predict, then check: how many tokens the template writes, how many the loss scores
# ----------------------------------------------------------------------------
_CASES_11_1 = (
    (("user", 6), ("assistant", 2)),
    (("system", 4), ("user", 15), ("assistant", 2), ("user", 5), ("assistant", 3)),
    (("user", 9), ("assistant", 11), ("user", 4), ("assistant", 1), ("user", 3), ("assistant", 2)),
    (("user", 7),),
)


@checker
def check_11_1(count_tokens: Callable) -> Verdict:
    """Exercise 11.1: ``count_tokens(turns) -> (rendered, scored)`` for turns ``[(role, number of words), ...]``:
    the tokens the chat template writes (no generation prompt) and the tokens the SFT loss scores."""
    for turns in _hidden_cases(_CASES_11_1, [(("system", 3), ("user", 2), ("assistant", 5), ("user", 8))]):
        rendered = sum(n + 2 for _, n in turns)
        scored = sum(n + 1 for role, n in turns if role == "assistant")
        got, hint = _call(count_tokens, [tuple(t) for t in turns])
        if hint:
            return _verdict(False, hint)
        got, hint = _numbers(got, 2, "two numbers: (rendered, scored)", "a whole number")
        if hint:
            return _verdict(False, hint)
        r, s = got
        if _close(r, scored) and _close(s, rendered) and rendered != scored:
            return _verdict(False, "the two numbers are swapped: first the tokens rendered, then the tokens scored.")
        if not _close(r, rendered):
            words = sum(n for _, n in turns)
            hint = _first_mistake(r, [(words, "the template adds two tokens per message: its role token and "
                                              "its <|end|>."),
                                      (words + len(turns), "each message gets a role token AND an <|end|>: two "
                                                           "tokens besides its words."),
                                      (rendered + 1, "without a generation prompt nothing follows the last "
                                                     "<|end|>: no <|assistant|> at the end.")])
            return _verdict(False, hint or f"for {list(turns)}: expected {rendered} tokens rendered, got "
                                           f"{float(r):g}; count role token + words + <|end|> per message.")
        if not _close(s, scored):
            mine = [n for role, n in turns if role == "assistant"]
            hint = _first_mistake(s, [(sum(mine), "the assistant's <|end|> is scored too: it is how the model "
                                                  "learns to stop."),
                                      (sum(n + 2 for n in mine), "the <|assistant|> role token is not scored: "
                                                                 "the template writes it, never the model."),
                                      (sum(n + 1 for _, n in turns), "only the assistant's turns are scored, "
                                                                     "not the user's or the system's."),
                                      (mine[-1] + 1 if mine else -1, "every assistant turn is scored in "
                                                                     "training, not only the last one.")])
            return _verdict(False, hint or f"for {list(turns)}: expected {scored} scored tokens, got "
                                           f"{float(s):g}; words + <|end|> of each assistant turn.")
    return _verdict(True, "two tokens per message around its words; the loss scores each assistant turn's words "
                          "and its <|end|>: 7 of the 41 tokens of the conversation in 11.1.")


# ----------------------------------------------------------------------------
# 11.2 find the bug: the assistant-only loss mask
# ----------------------------------------------------------------------------
def _mask_variants(tokens):
    """(buggy mask, hint) pairs for a rendered conversation."""
    from llm_book.chat import END_OF_TURN, ROLE_TOKENS, assistant_mask

    right = assistant_mask(tokens)
    opener = [t == ROLE_TOKENS["assistant"] for t in tokens]
    closer = [a and t == END_OF_TURN for a, t in zip(right, tokens)]
    with_role = [r or o for r, o in zip(right, opener)]
    both_bugs = [(r or o) and not c for r, o, c in zip(right, opener, closer)]
    without_end = [r and not c for r, c in zip(right, closer)]
    last = len(tokens) - 1 - tokens[::-1].index(ROLE_TOKENS["assistant"])
    last_only = [r and i > last for i, r in enumerate(right)]
    return [
        (both_bugs, "both bugs are still there: the assistant's <|end|> is not scored and its role token is."),
        (without_end, "the assistant's <|end|> has to be scored too: it is the only way the model learns to "
                      "stop (without it, generation runs on past the answer)."),
        (with_role, "the role token <|assistant|> should not be scored: at generation time the template puts "
                    "it there (the generation prompt); the model never has to write it."),
        (last_only, "every assistant turn is scored, not only the last: in a multi-turn conversation the "
                    "earlier replies are training examples too."),
        ([not r for r in right], "the mask is inverted: True should mark the assistant's tokens, the ones "
                                 "the loss learns from."),
        ([True] * len(tokens), "everything is scored: the model would also learn to write the user's "
                               "messages. Only the assistant's words and <|end|> count."),
        ([t not in ROLE_TOKENS.values() for t in tokens],
         "the user's (and system's) words are scored too: only the assistant's turns count."),
        ([t not in ROLE_TOKENS.values() and t != END_OF_TURN for t in tokens],
         "the user's (and system's) words are scored too: only the assistant's turns count."),
    ]


def _conversations_11_2():
    return [
        [{"role": "user", "content": "The cat sat . Who sat ?"}, {"role": "assistant", "content": "the cat"}],
        [{"role": "system", "content": "Answer in a few words ."},
         {"role": "user", "content": "The dog sat on the rug . Where did the dog sit ?"},
         {"role": "assistant", "content": "on the rug"},
         {"role": "user", "content": "Who sat ?"},
         {"role": "assistant", "content": "the dog"}],
        [{"role": "user", "content": "Translate into Chinese : The cat sleeps"},
         {"role": "assistant", "content": "猫 睡觉"},
         {"role": "user", "content": "Make it plural : The cat sleeps"},
         {"role": "assistant", "content": "The cats sleep"}],
    ]


@checker
def check_11_2(mask_fn: Callable) -> Verdict:
    """Exercise 11.2 (find the bug): ``mask_fn(tokens) -> list[bool]``, True on the tokens the loss scores."""
    from llm_book.chat import assistant_mask, render_chat

    hidden = [[{"role": "system", "content": "Be brief ."},
               {"role": "user", "content": "Where did the cat sit ?"},
               {"role": "assistant", "content": "on the mat"}]]
    for messages in _hidden_cases(_conversations_11_2(), hidden):
        tokens = render_chat(messages)
        expected = assistant_mask(tokens)
        got, hint = _call(mask_fn, list(tokens))
        if hint:
            return _verdict(False, hint)
        got, hint = _mask(got, len(tokens))
        if hint:
            return _verdict(False, hint)
        if got == expected:
            continue
        for wrong, message in _mask_variants(tokens):
            if got == wrong:
                return _verdict(False, message)
        at = next(i for i, (a, b) in enumerate(zip(got, expected)) if a != b)
        return _verdict(False, f"in a conversation of {len(messages)} messages, token {at} ({tokens[at]!r}) "
                               f"should be {expected[at]}: True exactly on each assistant turn's words and "
                               f"its <|end|>.")
    return _verdict(True, "the loss learns the assistant's words and when to stop, nothing else: "
                          "llm_book.chat.assistant_mask agrees on every conversation.")


# ----------------------------------------------------------------------------
# 11.3 think: length bias of a sum or a mean of log-probabilities
# ----------------------------------------------------------------------------
_CASES_11_3 = (
    ([-0.2, -0.2], [-0.05, -0.05, -0.05, -0.05, -0.05]),       # both: long
    ([-1.0, -1.0], [-0.5, -0.5, -0.5, -0.5, -0.5, -0.5]),      # sum: short; mean: long
    ([-0.1], [-0.3, -0.3, -0.3]),                               # both: short
    ([-0.4, -0.6, -0.2], [-0.25, -0.3, -0.2, -0.25, -0.3]),    # sum: short; mean: long
)


def _choice(x, what: str) -> tuple[str | None, str | None]:
    if isinstance(x, str) and x in ("short", "long"):
        return x, None
    return None, f"{what} has to be the string 'short' or 'long', got {_describe(x, returned=False)}."


@checker
def check_11_3(preferred: Callable) -> Verdict:
    """Exercise 11.3: ``preferred(short, long) -> (by_sum, by_mean)``, each 'short' or 'long': the reply that a
    sum, and a mean, of its tokens' log-probabilities scores higher."""
    for short, long in _hidden_cases(_CASES_11_3, [([-0.3, -0.3, -0.3], [-0.2, -0.2, -0.2, -0.2, -0.2])]):
        expected = ("short" if sum(short) > sum(long) else "long",
                    "short" if sum(short) / len(short) > sum(long) / len(long) else "long")
        got, hint = _call(preferred, list(short), list(long))
        if hint:
            return _verdict(False, hint)
        if not isinstance(got, (tuple, list)) or len(got) != 2:
            return _verdict(False, f"return two strings, (by_sum, by_mean), got {_describe(got)}.")
        by_sum, hint = _choice(got[0], "by_sum")
        by_mean, hint2 = _choice(got[1], "by_mean")
        if hint or hint2:
            return _verdict(False, hint or hint2)
        if (by_sum, by_mean) == expected:
            continue
        flip = {"short": "long", "long": "short"}
        if (by_sum, by_mean) == expected[::-1]:
            return _verdict(False, "the two answers are swapped: first the sum's choice, then the mean's.")
        if (by_sum, by_mean) == (flip[expected[0]], flip[expected[1]]):
            return _verdict(False, "log-probabilities are <= 0 and a HIGHER one is better: -1 beats -3.")
        which, right = ("by_sum", expected[0]) if by_sum != expected[0] else ("by_mean", expected[1])
        return _verdict(False, f"short {short}, long {long}: {which} should be {right!r}; "
                               f"compare sum(short) with sum(long), and sum/len of each.")
    return _verdict(True, "every token adds a negative log-probability, so a sum favours SHORT replies; a mean "
                          "(SimPO's score) does not. DPO uses the sum, but compares it with the reference's "
                          "sum, which cancels much of the length effect.")


# ----------------------------------------------------------------------------
# 11.4 derive: DPO's weight on each pair, checked against autograd
# ----------------------------------------------------------------------------
def _cases_11_4():
    g = _generator(114)
    cases = []
    for batch, beta in ((4, 0.1), (3, 0.5), (5, 2.0)):
        rc = -3 * torch.rand(batch, generator=g, dtype=torch.float64) - 0.5
        rr = -3 * torch.rand(batch, generator=g, dtype=torch.float64) - 0.5
        pc = rc + 4 * torch.randn(batch, generator=g, dtype=torch.float64)
        pr = rr + 4 * torch.randn(batch, generator=g, dtype=torch.float64)
        cases.append((pc, pr, rc, rr, beta))
    return cases


def _autograd_weight(pc, pr, rc, rr, beta):
    pc = pc.clone().requires_grad_(True)
    loss = -F.logsigmoid(beta * ((pc - rc) - (pr - rr)))       # (batch,): one loss per pair
    loss.sum().backward()
    return -pc.grad                                             # d loss_i / d pc_i = -weight_i


@checker
def check_11_4(pair_weight: Callable) -> Verdict:
    """Exercise 11.4: ``pair_weight(pc, pr, rc, rr, beta) -> (batch,)`` weights ``w`` with
    d loss_i / d pc_i = -w_i for the per-pair DPO loss."""
    for pc, pr, rc, rr, beta in _cases_11_4():
        expected = _autograd_weight(pc, pr, rc, rr, beta)
        got, hint = _call(pair_weight, pc.clone(), pr.clone(), rc.clone(), rr.clone(), beta)
        if hint:
            return _verdict(False, hint)
        got, hint = _numbers(got, len(pc), f"{len(pc)} numbers, one weight per pair", "a number")
        if hint:
            return _verdict(False, hint)
        if all(_close(x, float(e), rel_tol=1e-6, abs_tol=1e-12) for x, e in zip(got, expected)):
            continue
        margin = beta * ((pc - rc) - (pr - rr))
        mistakes = [
            (-expected, "sign: the gradient of the loss is -w; return w = beta * sigmoid(-margin), which is positive."),
            (beta * torch.sigmoid(margin), "sigmoid(+margin) weights the pairs already ranked right; it is "
                                           "sigmoid(-margin): the more wrong the implicit reward, the larger "
                                           "the weight."),
            (torch.sigmoid(-margin), "missing the outer beta: the chain rule through beta * (log-ratio margin)."),
            (beta * torch.sigmoid(-((pc - rc) - (pr - rr))), "the margin inside the sigmoid is the REWARD margin: "
                                                             "beta times the log-ratio margin."),
            (expected / len(pc), "that is the gradient of the MEAN over the batch; the weight is per pair "
                                 "(the loss of one pair)."),
            (beta * torch.sigmoid(-beta * (pc - pr)), "the reference's log-probabilities belong in the margin: "
                                                      "(pc - rc) - (pr - rr)."),
        ]
        for wrong, message in mistakes:
            if all(_close(x, float(w), rel_tol=1e-6, abs_tol=1e-12) for x, w in zip(got, wrong)):
                return _verdict(False, message)
        return _verdict(False, f"with beta = {beta}: expected {[round(float(e), 5) for e in expected]}, got "
                               f"{[round(float(x), 5) for x in got]}; differentiate -log sigmoid(beta * margin) by pc.")
    return _verdict(True, "w = beta * sigmoid(-reward margin): pairs the model already ranks right get almost no "
                          "weight, wrong ones get up to beta. This is why DPO's loss curve flattens as pairs are won.")


# ----------------------------------------------------------------------------
# 11.5 predict, then check: what beta does
# ----------------------------------------------------------------------------
_CASES_11_5 = ((0.1, 0.1), (0.1, 1.0), (0.3, 0.5), (0.05, 2.0))


@checker
def check_11_5(needed: Callable) -> Verdict:
    """Exercise 11.5: ``needed(loss, beta) -> (reward_margin, logratio_margin)``: the margins at which one
    pair's DPO loss equals ``loss``, in implicit reward and in log pi/pi_ref."""
    for loss, beta in _hidden_cases(_CASES_11_5, [(0.2, 0.25)]):
        reward = -math.log(math.expm1(loss))      # -log sigmoid(r) = loss  <=>  r = -log(e^loss - 1)
        expected = (reward, reward / beta)
        got, hint = _call(needed, loss, beta)
        if hint:
            return _verdict(False, hint)
        got, hint = _numbers(got, 2, "two numbers: (reward_margin, logratio_margin)", "a number")
        if hint:
            return _verdict(False, hint)
        r, m = got
        if _close(r, expected[0], rel_tol=1e-6) and _close(m, expected[1], rel_tol=1e-6):
            continue
        if _close(r, expected[1], rel_tol=1e-6) and _close(m, expected[0], rel_tol=1e-6) and beta != 1:
            return _verdict(False, "the two numbers are swapped: first the reward margin, then the log-ratio margin.")
        if _close(r, -expected[0], rel_tol=1e-6):
            return _verdict(False, "sign: a loss below log 2 needs the chosen reply ahead, a positive margin.")
        if not _close(r, expected[0], rel_tol=1e-6):
            hint = _first_mistake(r, [(math.log(1 / loss), "loss = -log sigmoid(r), not -log r: solve "
                                                            "sigmoid(r) = exp(-loss) for r."),
                                      (math.log(math.exp(-loss) / (1 + math.exp(-loss))),
                                       "sigmoid(r) = exp(-loss), so r = log(p / (1 - p)) with p = exp(-loss).")],
                                  rel_tol=1e-6)
            return _verdict(False, hint or f"for loss {loss}: expected a reward margin of {expected[0]:.4f}, got "
                                           f"{float(r):.4f}; solve -log sigmoid(r) = loss for r.")
        if _close(m, expected[0] * beta, rel_tol=1e-6):
            return _verdict(False, "the reward is beta times the log-ratio, so the log-ratio is the reward "
                                   "DIVIDED by beta.")
        return _verdict(False, f"the reward margin is right; for beta = {beta} the log-ratio margin should "
                               f"be {expected[1]:.4f}, got {float(m):.4f}.")
    small, large = -math.log(math.expm1(0.1)) / 0.1, -math.log(math.expm1(0.1)) / 1.0
    return _verdict(True, f"the reward margin a loss needs does not depend on beta, the log-ratio does: at "
                          f"loss 0.1, {small:.1f} nats with beta = 0.1 against {large:.1f} with beta = 1. "
                          f"A small beta lets the policy move further from the reference.")


# ----------------------------------------------------------------------------
# 11.6 derive: the best margin when labellers disagree, and why one-sided pairs have none
# ----------------------------------------------------------------------------
_CASES_11_6 = ((0.6, 0.1), (0.9, 0.1), (0.99, 0.5), (0.75, 2.0), (0.3, 1.0))


@checker
def check_11_6(best_margin: Callable) -> Verdict:
    """Exercise 11.6: ``best_margin(p, beta)``: the log-ratio margin m that minimises the expected DPO loss
    ``-p log sigmoid(beta m) - (1 - p) log sigmoid(-beta m)`` when a fraction p of labellers prefer y_w."""
    for p, beta in _hidden_cases(_CASES_11_6, [(0.8, 0.3)]):
        logit = math.log(p / (1 - p))
        expected = logit / beta
        got, hint = _call(best_margin, p, beta)
        if hint:
            return _verdict(False, hint)
        got, hint = _number(got, "one number, the best log-ratio margin")
        if hint:
            return _verdict(False, hint)
        if _close(got, expected, rel_tol=1e-6):
            continue
        hint = _first_mistake(got, [(-expected, "sign: with p > 1/2 the chosen reply should end up ahead, a "
                                                "positive margin."),
                                    (logit * beta, "the reward is beta * m, so m = logit(p) DIVIDED by beta."),
                                    (logit, "that is the best REWARD margin, beta * m; divide by beta for m."),
                                    (math.log(p) / beta, "set the derivative to zero: sigmoid(beta m) = p, so "
                                                         "beta m = log(p / (1 - p)), not log p."),
                                    (-math.log(p) / beta, "set the derivative to zero: sigmoid(beta m) = p, so "
                                                          "beta m = log(p / (1 - p)).")], rel_tol=1e-6)
        return _verdict(False, hint or f"for p = {p}, beta = {beta}: expected {expected:.4f}, got {float(got):.4f}; "
                                       f"the derivative is zero where sigmoid(beta m) = p.")
    return _verdict(True, "m* = logit(p) / beta: beta scales the optimum, and as p -> 1 it goes to infinity for "
                          "every beta. Every pair of this chapter has p = 1, so DPO never stops pushing (IPO's point).")
