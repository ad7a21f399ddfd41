"""llm_book.threads: one CPU thread for tiny models inside the package's loops, the reader's setting restored."""

import pytest
import torch

from llm_book.model import GPTConfig
from llm_book.probability import next_token_distribution
from llm_book.sampling import generate
from llm_book.threads import SMALL_MODEL_PARAMETERS, cpu_threads, model_threads, threads_for
from llm_book.training import train


@pytest.fixture
def two_threads():
    """The reader's setting for the test: 2 threads (restored afterwards)."""
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


def test_cpu_threads_sets_and_restores(two_threads):
    with cpu_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == 2


def test_cpu_threads_restores_after_an_error(two_threads):
    with pytest.raises(RuntimeError, match="boom"):
        with cpu_threads(1):
            raise RuntimeError("boom")
    assert torch.get_num_threads() == 2


def test_cpu_threads_none_leaves_the_setting_alone(two_threads):
    with cpu_threads(None):
        assert torch.get_num_threads() == 2


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "1"])
def test_cpu_threads_rejects_what_is_not_a_thread_count(bad):
    with pytest.raises(ValueError, match=r"`n` \(=.*\) has to be a positive integer"):
        with cpu_threads(bad):
            pass


def test_threads_for_small_and_large_models(tiny_gpt):
    assert threads_for(tiny_gpt) == 1
    large = torch.nn.Linear(SMALL_MODEL_PARAMETERS, 1, bias=False)
    assert threads_for(large) is None
    assert threads_for(torch.nn.ReLU()) is None             # no parameters: nothing to decide from
    with torch.device("meta"):
        assert threads_for(torch.nn.Linear(4, 4)) is None   # not on the CPU: leave the CPU alone


def test_model_threads(two_threads, tiny_gpt):
    with model_threads(tiny_gpt):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == 2


def test_train_runs_a_tiny_model_on_one_thread_and_restores(two_threads, tiny_gpt):
    seen = []
    batch = torch.randint(0, 11, (4, 8), generator=torch.Generator().manual_seed(0))

    def get_batch(step):
        seen.append(torch.get_num_threads())
        return batch, batch

    train(tiny_gpt, get_batch, steps=2, warmup_steps=1, device="cpu")
    assert seen == [1, 1]
    assert torch.get_num_threads() == 2


def test_train_gives_the_same_losses_whatever_the_readers_thread_count(make_gpt):
    config = GPTConfig(vocab_size=11, block_size=12, n_layer=2, n_head=2, n_embd=16)
    batch = torch.randint(0, 11, (16, 12), generator=torch.Generator().manual_seed(0))
    losses = []
    for threads in (1, 2):
        with cpu_threads(threads):
            losses.append(train(make_gpt(config), lambda step: (batch, batch), steps=5, warmup_steps=1,
                                device="cpu").loss)
    assert losses[0] == losses[1]


def test_generation_and_probabilities_restore_the_setting(two_threads, toy_gpt):
    model, tokenizer = toy_gpt
    start = torch.tensor([tokenizer.encode(["The"])])
    generate(model, start, max_new_tokens=3, generator=torch.Generator().manual_seed(0))
    next_token_distribution(model, tokenizer, ["The"])
    assert torch.get_num_threads() == 2


def _helpers_that_run_a_model(model, tokenizer, language):
    from llm_book.calibration import toy_language_logits
    from llm_book.finetuning import complete
    from llm_book.probability import language_cross_entropy, model_sentence_probability
    from llm_book.sampling import beam_search, greedy

    start = torch.tensor([tokenizer.encode(["The"])])
    return {
        "next_token_distribution": lambda: next_token_distribution(model, tokenizer, ["The"]),
        "model_sentence_probability": lambda: model_sentence_probability(model, tokenizer, ["The", "cat"]),
        "language_cross_entropy": lambda: language_cross_entropy(model, tokenizer, language),
        "generate": lambda: generate(model, start, max_new_tokens=2, generator=torch.Generator().manual_seed(0)),
        "greedy": lambda: greedy(model, start, max_new_tokens=2),
        "beam_search": lambda: beam_search(model, start, beam_width=2, max_new_tokens=2),
        "complete": lambda: complete(model, tokenizer, [["The", "cat"]], max_new_tokens=2),
        "toy_language_logits": lambda: toy_language_logits(model, tokenizer, language),
    }


HELPERS = ["next_token_distribution", "model_sentence_probability", "language_cross_entropy", "generate",
           "greedy", "beam_search", "complete", "toy_language_logits"]


@pytest.mark.parametrize("name", HELPERS)
def test_helpers_run_the_tiny_model_on_one_thread(name, two_threads, toy_gpt, lang, monkeypatch):
    model, tokenizer = toy_gpt
    seen = []
    forward = type(model).forward

    def recording_forward(self, *args, **kwargs):
        seen.append(torch.get_num_threads())
        return forward(self, *args, **kwargs)

    monkeypatch.setattr(type(model), "forward", recording_forward)
    _helpers_that_run_a_model(model, tokenizer, lang)[name]()
    assert seen and set(seen) == {1}, f"{name} ran the model with {sorted(set(seen))} threads"
    assert torch.get_num_threads() == 2
