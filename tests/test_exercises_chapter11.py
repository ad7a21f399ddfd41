"""Chapter 11's checkers: right answers pass, each usual mistake gets its hint, stubs get a hint (no crash)."""

import math

import numpy as np
import torch

from llm_book.chat import END_OF_TURN, ROLE_TOKENS, assistant_mask, render_chat
from llm_book.exercises.chapter11 import (check_11_1, check_11_2, check_11_3, check_11_4, check_11_5,
                                          check_11_6)
from llm_book.preference import dpo_loss
from checker_helpers import assert_hint, assert_right, catalogue_tests, stub
from checker_helpers import global_state_kept, short_time_limit  # noqa: F401 (fixtures)


# ----------------------------------------------------------------------------
# 11.1 tokens rendered and tokens scored
# ----------------------------------------------------------------------------
def count_tokens(turns):
    rendered = sum(n + 2 for _, n in turns)
    scored = sum(n + 1 for role, n in turns if role == "assistant")
    return rendered, scored


def test_11_1(capsys):
    line = assert_right(capsys, check_11_1, count_tokens)
    assert "7 of the 41 tokens" in line
    # the rule agrees with the package's template and mask
    messages = [{"role": "user", "content": "The cat sat . Who sat ?"}, {"role": "assistant", "content": "the cat"}]
    tokens = render_chat(messages)
    assert count_tokens([("user", 7), ("assistant", 2)]) == (len(tokens), sum(assistant_mask(tokens)))
    words = lambda t: sum(n for _, n in t)  # noqa: E731
    mine = lambda t: [n for r, n in t if r == "assistant"]  # noqa: E731
    for answer, phrase in [
            (lambda t: count_tokens(t)[::-1], "swapped"),
            (lambda t: (words(t), count_tokens(t)[1]), "two tokens per message"),
            (lambda t: (words(t) + len(t), count_tokens(t)[1]), "AND an <|end|>"),
            (lambda t: (count_tokens(t)[0] + 1, count_tokens(t)[1]), "no <|assistant|> at the end"),
            (lambda t: (count_tokens(t)[0], sum(mine(t))), "<|end|> is scored too"),
            (lambda t: (count_tokens(t)[0], sum(n + 2 for n in mine(t))), "role token is not scored"),
            (lambda t: (count_tokens(t)[0], sum(n + 1 for _, n in t)), "only the assistant's turns"),
            (lambda t: (count_tokens(t)[0], mine(t)[-1] + 1), "not only the last one"),
            (lambda t: (count_tokens(t)[0], 99), "expected"),
            (lambda t: count_tokens(t)[0], "two numbers"),
            (stub, "not written yet")]:
        assert_hint(capsys, check_11_1, answer, phrase)


# ----------------------------------------------------------------------------
# 11.2 find the bug: the assistant-only mask
# ----------------------------------------------------------------------------
def buggy_mask(tokens):          # the exercise's cell: scores the role token, forgets <|end|>
    mask, inside = [], False
    for token in tokens:
        if token == ROLE_TOKENS["assistant"]:
            inside = True
        elif token == END_OF_TURN:
            inside = False
        mask.append(inside)
    return mask


def fixed_mask(tokens):
    mask, inside = [], False
    for token in tokens:
        if token in ROLE_TOKENS.values():
            inside = token == ROLE_TOKENS["assistant"]
            mask.append(False)
        else:
            mask.append(inside)
            if token == END_OF_TURN:
                inside = False
    return mask


def test_11_2(capsys):
    assert_right(capsys, check_11_2, fixed_mask)
    assert_right(capsys, check_11_2, assistant_mask)
    assert_right(capsys, check_11_2, lambda t: torch.tensor(fixed_mask(t)))
    assert_right(capsys, check_11_2, lambda t: [int(b) for b in fixed_mask(t)])
    assert_hint(capsys, check_11_2, buggy_mask, "both bugs")

    def role_fixed_only(tokens):       # role token no longer scored, <|end|> still not scored
        return [m and t != END_OF_TURN for m, t in zip(fixed_mask(tokens), tokens)]

    def end_fixed_only(tokens):        # <|end|> scored, but the role token too
        return [m or t == ROLE_TOKENS["assistant"] for m, t in zip(fixed_mask(tokens), tokens)]

    assert_hint(capsys, check_11_2, role_fixed_only, "learns to stop")
    assert_hint(capsys, check_11_2, end_fixed_only, "generation prompt")
    assert_hint(capsys, check_11_2, lambda t: [not b for b in fixed_mask(t)], "inverted")
    assert_hint(capsys, check_11_2, lambda t: [True] * len(t), "everything is scored")
    assert_hint(capsys, check_11_2, lambda t: [x not in ROLE_TOKENS.values() for x in t], "user's")
    assert_hint(capsys, check_11_2, lambda t: fixed_mask(t)[:-1], "tokens, got")
    assert_hint(capsys, check_11_2, lambda t: [0.5] * len(t), "one item is the number 0.5")

    def last_turn_only(tokens):        # only the final reply is scored (multi-turn conversations lose the rest)
        start = len(tokens) - 1 - tokens[::-1].index(ROLE_TOKENS["assistant"])
        return [i > start for i in range(len(tokens))]

    assert_hint(capsys, check_11_2, last_turn_only, "not only the last")
    assert_hint(capsys, check_11_2, lambda t: [x == "the" for x in t], "token 11 ('cat') should be True")
    assert_hint(capsys, check_11_2, stub, "not written yet")


# ----------------------------------------------------------------------------
# 11.3 length bias of a sum or a mean
# ----------------------------------------------------------------------------
def preferred(short, long):
    by_sum = "short" if sum(short) > sum(long) else "long"
    by_mean = "short" if sum(short) / len(short) > sum(long) / len(long) else "long"
    return by_sum, by_mean


def test_11_3(capsys):
    assert_right(capsys, check_11_3, preferred)
    assert_right(capsys, check_11_3, lambda s, l: list(preferred(np.array(s), np.array(l))))
    flip = {"short": "long", "long": "short"}
    for answer, phrase in [
            (lambda s, l: preferred(s, l)[::-1], "swapped"),
            (lambda s, l: tuple(flip[x] for x in preferred(s, l)), "HIGHER one is better"),
            (lambda s, l: (preferred(s, l)[0], preferred(s, l)[0]), "by_mean should be"),
            (lambda s, l: ("short", "long"), "should be"),
            (lambda s, l: (1, 0), "the string 'short' or 'long'"),
            (lambda s, l: "short", "two strings"),
            (stub, "not written yet")]:
        assert_hint(capsys, check_11_3, answer, phrase)


# ----------------------------------------------------------------------------
# 11.4 DPO's weight on each pair
# ----------------------------------------------------------------------------
def pair_weight(pc, pr, rc, rr, beta):
    margin = beta * ((pc - rc) - (pr - rr))
    return beta * torch.sigmoid(-margin)


def test_11_4(capsys):
    line = assert_right(capsys, check_11_4, pair_weight)
    assert "beta * sigmoid(-reward margin)" in line
    # a second right answer: autograd itself, one pair at a time
    def by_autograd(pc, pr, rc, rr, beta):
        pc = pc.clone().requires_grad_(True)
        dpo_loss(pc, pr, rc, rr, beta=beta).loss.backward()
        return -pc.grad * len(pc)
    assert_right(capsys, check_11_4, by_autograd)
    for answer, phrase in [
            (lambda *a: -pair_weight(*a), "sign"),
            (lambda pc, pr, rc, rr, b: b * torch.sigmoid(b * ((pc - rc) - (pr - rr))), "sigmoid(+margin)"),
            (lambda pc, pr, rc, rr, b: torch.sigmoid(-b * ((pc - rc) - (pr - rr))), "outer beta"),
            (lambda pc, pr, rc, rr, b: b * torch.sigmoid(-((pc - rc) - (pr - rr))), "REWARD margin"),
            (lambda *a: pair_weight(*a) / len(a[0]), "MEAN over the batch"),
            (lambda pc, pr, rc, rr, b: b * torch.sigmoid(-b * (pc - pr)), "reference's log-probabilities"),
            (lambda *a: torch.ones_like(a[0]), "expected"),
            (lambda *a: pair_weight(*a)[0], "numbers, one weight per pair"),
            (stub, "not written yet")]:
        assert_hint(capsys, check_11_4, answer, phrase)


# ----------------------------------------------------------------------------
# 11.5 what beta does
# ----------------------------------------------------------------------------
def needed(loss, beta):
    reward = -math.log(math.exp(loss) - 1)
    return reward, reward / beta


def test_11_5(capsys):
    line = assert_right(capsys, check_11_5, needed)
    assert "22.5 nats with beta = 0.1 against 2.3 with beta = 1" in line
    assert_right(capsys, check_11_5, lambda l, b: torch.tensor(needed(l, b)))
    p = lambda l: math.exp(-l)  # noqa: E731
    for answer, phrase in [
            (lambda l, b: needed(l, b)[::-1], "swapped"),
            (lambda l, b: (-needed(l, b)[0], -needed(l, b)[1]), "sign"),
            (lambda l, b: (math.log(1 / l), math.log(1 / l) / b), "not -log r"),
            (lambda l, b: (math.log(p(l) / (1 + p(l))), 1.0), "r = log(p / (1 - p))"),
            (lambda l, b: (needed(l, b)[0], needed(l, b)[0] * b), "DIVIDED by beta"),
            (lambda l, b: (needed(l, b)[0], needed(l, b)[0]), "log-ratio margin should be"),
            (lambda l, b: (1.0, 2.0), "expected a reward margin"),
            (lambda l, b: needed(l, b)[0], "two numbers"),
            (stub, "not written yet")]:
        assert_hint(capsys, check_11_5, answer, phrase)


# ----------------------------------------------------------------------------
# 11.6 the best margin when labellers disagree
# ----------------------------------------------------------------------------
def best_margin(p, beta):
    return math.log(p / (1 - p)) / beta


def test_11_6(capsys):
    line = assert_right(capsys, check_11_6, best_margin)
    assert "as p -> 1 it goes to infinity" in line
    # the answer really minimises the expected loss: a numeric check
    p, beta = 0.9, 0.1
    def loss(m):
        return -(p * math.log(torch.sigmoid(torch.tensor(beta * m)).item())
                 + (1 - p) * math.log(torch.sigmoid(torch.tensor(-beta * m)).item()))
    m = best_margin(p, beta)
    assert loss(m) < loss(m - 0.5) and loss(m) < loss(m + 0.5)
    lg = lambda p: math.log(p / (1 - p))  # noqa: E731
    for answer, phrase in [
            (lambda p, b: -best_margin(p, b), "sign"),
            (lambda p, b: lg(p) * b, "DIVIDED by beta"),
            (lambda p, b: lg(p), "REWARD margin"),
            (lambda p, b: math.log(p) / b, "not log p"),
            (lambda p, b: -math.log(p) / b, "log(p / (1 - p))"),
            (lambda p, b: 1.0, "expected"),
            (lambda p, b: (best_margin(p, b), 0.0), "one number"),
            (stub, "not written yet")]:
        assert_hint(capsys, check_11_6, answer, phrase)


# ----------------------------------------------------------------------------
# Every checker of the chapter: the right answer in several types, the catalogue of wrong answers
# ----------------------------------------------------------------------------
CHECKERS = [check_11_1, check_11_2, check_11_3, check_11_4, check_11_5, check_11_6]
RIGHT_ANSWERS = {check_11_1: count_tokens, check_11_2: fixed_mask, check_11_3: preferred,
                 check_11_4: pair_weight, check_11_5: needed, check_11_6: best_margin}

test_right_answer_in_every_type, test_wrong_answer_catalogue = catalogue_tests(CHECKERS, RIGHT_ANSWERS)
