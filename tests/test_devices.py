"""Every helper works with a model on an accelerator (issue 11, section 3: Colab with a GPU).

``train()`` moves a model to CUDA where there is one.  A helper that then builds
its tensors on the CPU fails at the first evaluation with a device mismatch.
These tests run each helper with its model on ``FakeAccelerator`` (see
``fake_accelerator.py``: CUDA's device rules on a CPU-only machine, with real
values) and check that it gives the numbers it gives on the CPU.  Where CUDA is
present, the same checks run on it too.
"""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch
from fake_accelerator import ACCELERATOR, MIXED, FakeAccelerator, OnAccelerator

from llm_book.model import GPT, GPTClassifier, GPTConfig, model_device

DEVICES = ["fake"] + (["cuda"] if torch.cuda.is_available() else [])


class Device:
    """Runs code with models on a device: the fake accelerator, or real CUDA."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.device = ACCELERATOR if kind == "fake" else torch.device("cuda")

    def __enter__(self):
        self.mode = FakeAccelerator() if self.kind == "fake" else None
        if self.mode is not None:
            self.mode.__enter__()
        return self

    def __exit__(self, *exc):
        if self.mode is not None:
            self.mode.__exit__(*exc)

    def put(self, model: torch.nn.Module) -> torch.nn.Module:
        """A copy of ``model`` on the device (the original stays on the CPU)."""
        return copy.deepcopy(model).to(self.device)


@pytest.fixture(params=DEVICES)
def accelerator(request) -> Device:
    return Device(request.param)


@pytest.fixture
def gpt(toy_tokenizer) -> GPT:
    torch.manual_seed(0)
    return GPT(GPTConfig(vocab_size=len(toy_tokenizer), block_size=16, n_layer=2, n_head=2,
                         n_embd=16)).eval()


def close(a, b, tol: float = 1e-5) -> bool:
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(close(a[k], b[k], tol) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(close(x, y, tol) for x, y in zip(a, b))
    if isinstance(a, torch.Tensor):
        return a.device.type == "cpu" and b.device.type == "cpu" and torch.allclose(a, b, atol=tol)
    return math.isclose(a, b, rel_tol=tol, abs_tol=tol)


# ----------------------------------------------------------------------------
# The pretend accelerator itself: it has to catch what CUDA catches.
# ----------------------------------------------------------------------------
def test_fake_accelerator_catches_a_cpu_input_and_keeps_the_values(gpt):
    idx = torch.tensor([[0, 3, 5]])
    expected = gpt(idx).logits
    with FakeAccelerator():
        fast = copy.deepcopy(gpt).to("meta")
        assert isinstance(fast.wte.weight, OnAccelerator) and fast.lm_head.weight is fast.wte.weight
        with pytest.raises(RuntimeError, match="same device"):
            fast(idx)
        # (float rounding apart: on the pretend device torch's fused attention takes its reference kernel)
        assert close(fast(idx.to("meta")).logits.cpu(), expected, tol=1e-6)
        with pytest.raises(RuntimeError, match="generator"):
            torch.multinomial(torch.ones(2, 3, device="meta"), 1, generator=torch.Generator())
        with pytest.raises(TypeError, match="numpy"):
            torch.ones(2, device="meta").numpy()
        assert torch.ones(2, device="meta").tolist() == [1.0, 1.0]
        assert (torch.ones(2, device="meta") + torch.tensor(1.0)).device == ACCELERATOR  # CPU scalar: fine
    assert gpt.wte.weight.device.type == "cpu" and MIXED.startswith("Expected all tensors")


# ----------------------------------------------------------------------------
# model_device
# ----------------------------------------------------------------------------
def test_model_device(gpt):
    assert model_device(gpt) == torch.device("cpu")
    assert model_device(torch.nn.ReLU()) == torch.device("cpu")  # no parameters: the CPU
    with FakeAccelerator():
        assert model_device(copy.deepcopy(gpt).to("meta")) == ACCELERATOR


def test_model_device_refuses_what_is_not_a_model():
    with pytest.raises(TypeError, match=r"`model` has to be a torch.nn.Module.*got str"):
        model_device("gpt")


# ----------------------------------------------------------------------------
# probability
# ----------------------------------------------------------------------------
def test_next_token_distribution(accelerator, gpt, toy_tokenizer):
    from llm_book.probability import next_token_distribution

    prefix = ["The", "cat", "sat"]
    expected = next_token_distribution(gpt, toy_tokenizer, prefix)
    with accelerator:
        got = next_token_distribution(accelerator.put(gpt), toy_tokenizer, prefix)
    assert close(got, expected) and all(type(v) is float for v in got.values())


def test_model_sentence_probability(accelerator, gpt, toy_tokenizer):
    from llm_book.probability import model_sentence_probability

    words = "The cat sat on the mat <eos>".split()
    expected = model_sentence_probability(gpt, toy_tokenizer, words)
    with accelerator:
        got = model_sentence_probability(accelerator.put(gpt), toy_tokenizer, words)
    assert close(got, expected)


def test_sequence_log_probs_returns_where_the_input_came_from(accelerator, gpt, toy_tokenizer):
    from llm_book.probability import sequence_log_probs

    idx = torch.tensor([toy_tokenizer.encode("The cat sat on the mat".split())])
    expected = sequence_log_probs(gpt, idx)
    with accelerator:
        fast = accelerator.put(gpt)
        got = sequence_log_probs(fast, idx)                            # a CPU input: a CPU answer
        on_device = sequence_log_probs(fast, idx.to(accelerator.device))
        assert on_device.device.type == accelerator.device.type
        assert close(on_device.cpu(), expected)
    assert close(got, expected)


def test_language_fit_and_cross_entropy(accelerator, gpt, toy_tokenizer, lang):
    from llm_book.probability import language_cross_entropy, language_fit

    expected = language_fit(gpt, toy_tokenizer, lang, n_sentences=40)
    expected_ce = language_cross_entropy(gpt, toy_tokenizer, lang)
    with accelerator:
        fast = accelerator.put(gpt)
        got = language_fit(fast, toy_tokenizer, lang, n_sentences=40)
        got_ce = language_cross_entropy(fast, toy_tokenizer, lang)
    assert close(got, expected, 1e-4) and close(got_ce, expected_ce, 1e-4)


# ----------------------------------------------------------------------------
# sampling: CPU prompts and CPU generators with a model elsewhere
# ----------------------------------------------------------------------------
@pytest.mark.parametrize("use_cache", [False, True])
def test_generate_with_a_cpu_prompt_and_a_cpu_generator(accelerator, gpt, toy_tokenizer, use_cache):
    from llm_book.sampling import generate

    prompt = torch.tensor([toy_tokenizer.encode(["The"])] * 3)

    def run(model):
        return generate(model, prompt, 6, generator=torch.Generator().manual_seed(1),
                        eos_id=toy_tokenizer.eos_id, use_cache=use_cache)

    expected = run(gpt)
    with accelerator:
        got = run(accelerator.put(gpt))
    assert got.device.type == "cpu" and torch.equal(got, expected)  # the same tokens as on the CPU


def test_greedy_and_beam_search_with_a_cpu_prompt(accelerator, gpt, toy_tokenizer):
    from llm_book.sampling import beam_search, greedy

    prompt = torch.tensor([toy_tokenizer.encode(["The", "cat"])])
    expected = greedy(gpt, prompt, 5), beam_search(gpt, prompt, 3, 5)
    with accelerator:
        fast = accelerator.put(gpt)
        got = greedy(fast, prompt, 5), beam_search(fast, prompt, 3, 5)
    assert torch.equal(got[0], expected[0]) and torch.equal(got[1][0], expected[1][0])
    assert close(got[1][1], expected[1][1])


def test_sample_next_with_a_cpu_generator_draws_what_the_cpu_draws(accelerator):
    from llm_book.sampling import sample_next

    logits = torch.log(torch.tensor([[0.1, 0.2, 0.3, 0.4]] * 5))
    expected = sample_next(logits, generator=torch.Generator().manual_seed(0))
    with accelerator:
        got = sample_next(logits.to(accelerator.device), generator=torch.Generator().manual_seed(0))
        assert got.device.type == accelerator.device.type  # on the logits' device
        assert torch.equal(got.cpu(), expected)


# ----------------------------------------------------------------------------
# translation, calibration, fine-tuning, the classifier
# ----------------------------------------------------------------------------
def test_source_attention(accelerator, lang):
    from llm_book.translation import source_attention, to_chinese, translation_tokenizer

    tokenizer = translation_tokenizer(lang.vocab)
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=len(tokenizer), block_size=24, n_layer=2, n_head=2, n_embd=16)).eval()
    source = "The cat sat on the mat".split()
    expected = source_attention(model, tokenizer, source, to_chinese(source))
    with accelerator:
        got = source_attention(accelerator.put(model), tokenizer, source, to_chinese(source))
    assert close(got, expected)


def test_alignment_agreement_takes_attention_from_any_device(accelerator):
    from llm_book.translation import alignment_agreement

    attention = torch.tensor([[0.7, 0.3], [0.2, 0.8]])
    gold = torch.tensor([[1.0, 0.0], [1.0, 0.0]])
    with accelerator:
        assert alignment_agreement(attention.to(accelerator.device), gold) == 0.5


def test_toy_language_logits_and_reliability_bins(accelerator, gpt, toy_tokenizer, lang):
    from llm_book.calibration import reliability_bins, toy_language_logits

    def bins_of(logits, exact, weights, device):
        probs = torch.softmax(logits, -1)
        return reliability_bins(probs.to(device), exact, weights[:, None].expand_as(probs).to(device))

    expected = toy_language_logits(gpt, toy_tokenizer, lang)
    with accelerator:
        got = toy_language_logits(accelerator.put(gpt), toy_tokenizer, lang)
        assert close(list(got), list(expected))
        bins = bins_of(*got, accelerator.device)  # predictions on the device, the truth on the CPU
    assert close(bins.ece, bins_of(*expected, "cpu").ece) and bins.weight.device.type == "cpu"


def test_extend_gpt_stays_on_the_model_device(accelerator, gpt, toy_tokenizer):
    from llm_book.finetuning import complete, extend_gpt

    expected = extend_gpt(gpt, len(toy_tokenizer) + 3, 20, seed=1)
    with accelerator:
        bigger = extend_gpt(accelerator.put(gpt), len(toy_tokenizer) + 3, 20, seed=1)
        assert model_device(bigger).type == accelerator.device.type
        prompts = [["The", "cat"], ["The", "dogs", "that"]]
        assert complete(bigger, toy_tokenizer, prompts, 4) == complete(expected, toy_tokenizer, prompts, 4)
        bigger.to("cpu")
    for name, weight in expected.state_dict().items():
        assert torch.equal(bigger.state_dict()[name], weight), name


def test_save_checkpoint_writes_the_same_file_from_any_device(accelerator, gpt, toy_tokenizer, tmp_path):
    from llm_book.pretrained import load_checkpoint, save_checkpoint

    (tmp_path / "cpu").mkdir()
    (tmp_path / "device").mkdir()  # the same file name: torch.save writes it into the file
    digest = save_checkpoint(gpt, toy_tokenizer, tmp_path / "cpu" / "gpt.pt")
    with accelerator:
        assert save_checkpoint(accelerator.put(gpt), toy_tokenizer, tmp_path / "device" / "gpt.pt") == digest
    model, _ = load_checkpoint(tmp_path / "device" / "gpt.pt", expected_sha256=digest)
    assert torch.equal(model.wte.weight, gpt.wte.weight)


def test_classifier_with_cpu_lengths_and_labels(accelerator, gpt):
    torch.manual_seed(1)
    classifier = GPTClassifier(gpt, num_classes=3).eval()
    idx = torch.tensor([[0, 3, 5, 2], [4, 4, 1, 1]])
    lengths, labels = torch.tensor([4, 2]), torch.tensor([2, 0])
    expected = classifier(idx, lengths, labels)
    with accelerator:
        fast = accelerator.put(classifier)
        got = fast(idx.to(accelerator.device), lengths, labels)  # lengths and labels left on the CPU
        assert close(got.logits.cpu(), expected.logits) and close(got.loss.item(), expected.loss.item())


# ----------------------------------------------------------------------------
# widgets and plotting
# ----------------------------------------------------------------------------
def test_sampling_widgets(accelerator, toy_gpt):
    import matplotlib.pyplot as plt

    from llm_book.widgets import sampled_continuations, sampling_figure

    model, tokenizer = toy_gpt
    prefix = ["The", "cats", "that"]
    expected = sampled_continuations(model, tokenizer, prefix, n=3, top_k=5, seed=2)
    expected_bars = [b.get_height() for b in sampling_figure(model, tokenizer, prefix, 0.7, top_k=5).patches]
    with accelerator:
        fast = accelerator.put(model)
        assert sampled_continuations(fast, tokenizer, prefix, n=3, top_k=5, seed=2) == expected
        bars = [b.get_height() for b in sampling_figure(fast, tokenizer, prefix, 0.7, top_k=5).patches]
        assert close(bars, expected_bars)
    plt.close("all")


def test_plotting_moves_tensors_to_the_cpu(accelerator):
    import matplotlib.pyplot as plt

    from llm_book.plotting import _as_array, plot_attention, plot_loss_curve

    with accelerator:
        w = torch.tensor([[1.0, 0.0], [0.4, 0.6]], device=accelerator.device)
        ax = plot_attention(w, ["a", "b"])
        assert np.allclose(ax.images[0].get_array(), [[1.0, 0.0], [0.4, 0.6]])
        losses = [torch.tensor(v, device=accelerator.device) for v in (3.0, 2.0, 1.5)]  # .loss.detach()
        plot_loss_curve(losses, smooth=1)
    assert np.array_equal(_as_array(torch.tensor([0.5, 0.25], dtype=torch.bfloat16)), [0.5, 0.25])
    assert np.array_equal(_as_array([torch.tensor(0.5, dtype=torch.bfloat16), 0.25]), [0.5, 0.25])
    plt.close("all")


# ----------------------------------------------------------------------------
# encoders, summarisation, Hugging Face conversion, masked-LM corruption
# ----------------------------------------------------------------------------
def test_fit_linear_probe_on_accelerator_features(accelerator):
    from llm_book.encoders import fit_linear_probe

    g = torch.Generator().manual_seed(0)
    features, labels = torch.randn(20, 6, generator=g), torch.arange(20) % 3
    expected = fit_linear_probe(features, labels, steps=20)
    with accelerator:
        probe = fit_linear_probe(features.to(accelerator.device), labels, steps=20)  # CPU labels
        assert model_device(probe).type == accelerator.device.type
        probe.to("cpu")
    assert torch.allclose(probe.weight, expected.weight, atol=1e-5)


def test_summarization_scores_on_accelerator_embeddings(accelerator):
    from llm_book.summarization import centroid_scores, coverage, textrank_scores

    e = torch.nn.functional.normalize(torch.randn(6, 8, generator=torch.Generator().manual_seed(0)), dim=-1)
    expected = textrank_scores(e), centroid_scores(e), coverage(e, [0, 2])
    with accelerator:
        fast = e.to(accelerator.device)
        got = textrank_scores(fast).cpu(), centroid_scores(fast).cpu(), coverage(fast, [0, 2])
    assert close(list(got), list(expected))


def test_embed_and_attentions_follow_the_encoder(accelerator, monkeypatch):
    pytest.importorskip("transformers")
    from transformers import BertConfig, BertModel

    from llm_book import encoders

    _, tokenizer = encoders.load_minilm()
    torch.manual_seed(0)
    tiny = BertModel(BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=16, num_hidden_layers=1,
                                num_attention_heads=2, intermediate_size=32,
                                attn_implementation="eager"),  # as MiniLM
                     add_pooling_layer=False).eval()
    sentences = ["The cat sat on the mat.", "A dog runs."]
    expected = encoders.embed(sentences, model=tiny)
    monkeypatch.setattr(encoders, "load_minilm", lambda: (tiny, tokenizer))
    expected_attn = encoders.minilm_attentions(sentences[0])[1]
    with accelerator:
        fast = accelerator.put(tiny)
        got = encoders.embed(sentences, model=fast)
        monkeypatch.setattr(encoders, "load_minilm", lambda: (fast, tokenizer))
        got_attn = encoders.minilm_attentions(sentences[0])[1]
    assert close(got, expected) and close(list(got_attn), list(expected_attn))


def test_from_hf_gpt2_keeps_the_device(accelerator):
    transformers = pytest.importorskip("transformers")
    from llm_book.hf import from_hf_gpt2

    torch.manual_seed(0)
    hf = transformers.GPT2LMHeadModel(transformers.GPT2Config(n_layer=1, n_head=2, n_embd=16,
                                                              vocab_size=20, n_positions=8)).eval()
    with accelerator:
        model = from_hf_gpt2(accelerator.put(hf))
        assert model_device(model).type == accelerator.device.type


def test_mask_tokens_on_accelerator_tokens_with_a_cpu_generator(accelerator):
    from llm_book.objectives import mask_tokens

    tokens = torch.randint(0, 9, (4, 7), generator=torch.Generator().manual_seed(0))
    expected = mask_tokens(tokens, 9, 10, mask_prob=0.5, generator=torch.Generator().manual_seed(1))
    with accelerator:
        got = mask_tokens(tokens.to(accelerator.device), 9, 10, mask_prob=0.5,
                          generator=torch.Generator().manual_seed(1))
        assert close([t.cpu() for t in got], list(expected))


# ----------------------------------------------------------------------------
# The Colab story end to end: train() on the accelerator, then evaluate.
# ----------------------------------------------------------------------------
def test_train_on_the_accelerator_then_evaluate(accelerator, gpt, toy_tokenizer, lang):
    from llm_book.probability import language_cross_entropy, next_token_distribution
    from llm_book.training import LanguageSampler, train

    sampler = LanguageSampler(lang, toy_tokenizer)

    def run(model, device):
        batches = torch.Generator().manual_seed(0)
        history = train(model, lambda step: sampler(8, batches), steps=3, lr=1e-2, warmup_steps=1,
                        eval_fn=lambda m: language_cross_entropy(m, toy_tokenizer, lang), eval_every=3,
                        device=device)
        return history, next_token_distribution(model, toy_tokenizer, ["The"])

    expected_history, expected_next = run(copy.deepcopy(gpt), "cpu")
    with accelerator:
        history, got_next = run(copy.deepcopy(gpt), accelerator.device)
    assert close(history.loss, expected_history.loss, 1e-4)
    assert close(history.eval_loss, expected_history.eval_loss, 1e-4)
    assert close(got_next, expected_next, 1e-4)
