"""Shared fixtures: the toy language, a tiny random GPT, the shipped toy GPT.

Fixtures that are expensive to build are shared across a module or the whole
session; tests must treat them as read-only (no training, no in-place edits).
"""

from __future__ import annotations

import pytest
import torch

from llm_book.language import ToyLanguage
from llm_book.model import GPT, GPTConfig
from llm_book.tokenizer import WordTokenizer


@pytest.fixture(scope="session")
def lang() -> ToyLanguage:
    return ToyLanguage()


@pytest.fixture(scope="session")
def toy_tokenizer(lang) -> WordTokenizer:
    return WordTokenizer(lang.vocab, eos=lang.eos)


@pytest.fixture
def tiny_config() -> GPTConfig:
    return GPTConfig(vocab_size=11, block_size=12, n_layer=2, n_head=2, n_embd=16)


def make_gpt(config: GPTConfig, seed: int = 0) -> GPT:
    """A GPT with seeded random weights, in eval mode."""
    torch.manual_seed(seed)
    return GPT(config).eval()


@pytest.fixture(name="make_gpt")
def make_gpt_fixture():
    """``make_gpt(config, seed=0)``: for tests that need more than the one tiny model."""
    return make_gpt


@pytest.fixture
def tiny_gpt(tiny_config) -> GPT:
    return make_gpt(tiny_config)


@pytest.fixture(scope="session")
def toy_gpt():
    """The shipped checkpoint and its tokenizer (loaded once; do not modify)."""
    from llm_book.pretrained import load_toy_gpt

    return load_toy_gpt()
