"""Hugging Face GPT-2 weights in ``llm_book.model.GPT``: the same model, the same logits.

``llm_book.model.GPT`` has GPT-2's architecture, so a GPT-2 checkpoint loads
into it after three renamings:

* GPT-2 stores its linear layers as ``Conv1D`` with weights shaped
  ``(in, out)``; ``nn.Linear`` stores ``(out, in)``: transpose.
* GPT-2 packs queries, keys and values into one layer ``c_attn`` of width
  ``3 * n_embd``; ``SelfAttention`` has ``query``, ``key`` and ``value``: split.
* names: ``h.{i}`` -> ``blocks.{i}``, ``c_proj`` -> ``out`` / ``proj``, ``c_fc`` -> ``fc``.

Only ``from_hf_gpt2`` and ``load_gpt2`` need ``transformers`` (the ``hf`` extra);
the conversion itself works on plain tensors.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping

import torch

from llm_book.model import GPT, GPTConfig, model_device


def config_from_hf(hf_config) -> GPTConfig:
    """The ``GPTConfig`` of a ``transformers.GPT2Config``; refuses settings ``GPT`` does not have.

    Raises:
        ValueError: naming the setting, for a GPT-2 variant that would not give the same logits
            (another activation, LayerNorm epsilon, MLP width, attention scaling, untied output layer).
    """
    checks = [
        ("activation_function", getattr(hf_config, "activation_function", None) in ("gelu_new", "gelu_pytorch_tanh"),
         "'gelu_new' (GELU, tanh approximation)"),
        ("layer_norm_epsilon", getattr(hf_config, "layer_norm_epsilon", None) == 1e-5, "1e-5 (nn.LayerNorm's default)"),
        ("n_inner", getattr(hf_config, "n_inner", None) in (None, 4 * hf_config.n_embd), "None or 4 * n_embd"),
        ("scale_attn_weights", getattr(hf_config, "scale_attn_weights", True) is True, "True"),
        ("scale_attn_by_inverse_layer_idx", not getattr(hf_config, "scale_attn_by_inverse_layer_idx", False),
         "False"),
        ("tie_word_embeddings", getattr(hf_config, "tie_word_embeddings", True) is not False, "True"),
    ]
    for name, ok, allowed in checks:
        if not ok:
            raise ValueError(f"`hf_config.{name}` (={getattr(hf_config, name, None)!r}) is not supported: "
                             f"llm_book's GPT needs {allowed}")
    return GPTConfig(vocab_size=hf_config.vocab_size, block_size=hf_config.n_positions,
                     n_layer=hf_config.n_layer, n_head=hf_config.n_head, n_embd=hf_config.n_embd,
                     dropout=0.0, bias=True, causal=True)


def state_dict_from_hf(hf_state: Mapping[str, torch.Tensor], config: GPTConfig) -> dict[str, torch.Tensor]:
    """Rename, transpose and split a GPT-2 state dict into ``GPT``'s (new tensors; the input is unchanged).

    Args:
        hf_state: ``GPT2LMHeadModel.state_dict()`` (keys with or without the ``transformer.`` prefix).
        config: the target ``GPTConfig`` (see ``config_from_hf``).

    Returns:
        a state dict for ``GPT(config).load_state_dict``, ``lm_head.weight`` included (tied to ``wte``).
    """
    sd = {k.removeprefix("transformer."): v for k, v in hf_state.items()}
    c = config.n_embd

    def take(key: str) -> torch.Tensor:
        if key not in sd:
            raise ValueError(f"`hf_state` has no {key!r}; is it a GPT-2 state dict with "
                             f"{config.n_layer} layers?")
        return sd[key].detach().clone()

    out = {"wte.weight": take("wte.weight"), "wpe.weight": take("wpe.weight"),
           "ln_f.weight": take("ln_f.weight"), "ln_f.bias": take("ln_f.bias")}
    if tuple(out["wte.weight"].shape) != (config.vocab_size, c):
        raise ValueError(f"`hf_state`'s wte.weight has shape {tuple(out['wte.weight'].shape)}, "
                         f"the config needs {(config.vocab_size, c)}")
    for i in range(config.n_layer):
        h, b = f"h.{i}.", f"blocks.{i}."
        for ln in ("ln_1", "ln_2"):
            out[b + ln + ".weight"] = take(h + ln + ".weight")
            out[b + ln + ".bias"] = take(h + ln + ".bias")
        w_qkv, b_qkv = take(h + "attn.c_attn.weight"), take(h + "attn.c_attn.bias")  # (C, 3C), (3C,)
        for name, w, bias in zip(("query", "key", "value"), w_qkv.split(c, dim=1), b_qkv.split(c)):
            out[b + f"attn.{name}.weight"] = w.t().contiguous()  # Conv1D (in, out) -> Linear (out, in)
            out[b + f"attn.{name}.bias"] = bias.contiguous()
        for hf_name, name in (("attn.c_proj", "attn.out"), ("mlp.c_fc", "mlp.fc"), ("mlp.c_proj", "mlp.proj")):
            out[b + name + ".weight"] = take(h + hf_name + ".weight").t().contiguous()
            out[b + name + ".bias"] = take(h + hf_name + ".bias")
    head = hf_state.get("lm_head.weight")
    if head is not None and not torch.equal(head, out["wte.weight"]):
        raise ValueError("`hf_state`'s lm_head.weight differs from its wte.weight; llm_book's GPT ties "
                         "the output layer to the token embedding")
    out["lm_head.weight"] = out["wte.weight"]
    return out


def from_hf_gpt2(hf_model) -> GPT:
    """A ``GPT`` with the weights of a ``transformers.GPT2LMHeadModel`` (in eval mode, on its device).

    Example:
        >>> from transformers import GPT2Config, GPT2LMHeadModel
        >>> hf = GPT2LMHeadModel(GPT2Config(n_layer=2, n_head=2, n_embd=32, vocab_size=50, n_positions=16))
        >>> model = from_hf_gpt2(hf)           # same logits as hf(idx).logits
    """
    if not hasattr(hf_model, "config") or not hasattr(hf_model, "state_dict"):
        raise TypeError(f"`hf_model` has to be a transformers GPT2LMHeadModel, got {type(hf_model).__name__}")
    config = config_from_hf(hf_model.config)
    model = GPT(config)
    model.load_state_dict(state_dict_from_hf(hf_model.state_dict(), config))
    return model.to(model_device(hf_model)).eval()


def hub_reachable(host: str = "huggingface.co", port: int = 443, timeout: float = 2.0) -> bool:
    """True when the Hugging Face Hub answers within ``timeout`` seconds and offline mode is off."""
    if os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes", "on"):
        return False
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def load_gpt2(name: str = "gpt2", timeout: float = 2.0):
    """Download a GPT-2 checkpoint from the Hub and convert it: ``(GPT, Hugging Face tokenizer)``.

    Args:
        name: a GPT-2 checkpoint on the Hub ("gpt2", "gpt2-medium", ...).
        timeout: seconds to wait for the Hub before giving up.

    Raises:
        ConnectionError: when the Hub cannot be reached (no network, or ``HF_HUB_OFFLINE=1``)
            and the checkpoint is not in the local cache.
    """
    from transformers import AutoTokenizer, GPT2LMHeadModel

    try:
        if not hub_reachable(timeout=timeout):
            # Offline: only a checkpoint already in the local cache can load.
            hf_model = GPT2LMHeadModel.from_pretrained(name, local_files_only=True)
            tokenizer = AutoTokenizer.from_pretrained(name, local_files_only=True)
        else:
            hf_model = GPT2LMHeadModel.from_pretrained(name)
            tokenizer = AutoTokenizer.from_pretrained(name)
    except OSError as err:
        raise ConnectionError(f"could not load {name!r}: the Hugging Face Hub is not reachable from here "
                              f"and the checkpoint is not cached ({type(err).__name__})") from None
    return from_hf_gpt2(hf_model), tokenizer
