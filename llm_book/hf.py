"""Hugging Face GPT-2 weights in ``llm_book.model.GPT``: the same model, the same logits.

``llm_book.model.GPT`` has GPT-2's architecture, so a GPT-2 checkpoint loads
into it after three renamings:

* GPT-2 stores its linear layers as ``Conv1D`` with weights shaped
  ``(in, out)``; ``nn.Linear`` stores ``(out, in)``: transpose.
* GPT-2 packs queries, keys and values into one layer ``c_attn`` of width
  ``3 * n_embd``; ``SelfAttention`` has ``query``, ``key`` and ``value``: split.
* names: ``h.{i}`` -> ``blocks.{i}``, ``c_proj`` -> ``out`` / ``proj``, ``c_fc`` -> ``fc``.

Llama's architecture is ``GPT`` with the config's later options (rotary
positions, RMSNorm, a SwiGLU MLP, grouped-query attention, untied output
weights, no biases), so a ``LlamaForCausalLM`` loads after renamings only:
``model.layers.{i}`` -> ``blocks.{i}``, ``self_attn.{q,k,v,o}_proj`` ->
``attn.{query,key,value,out}``, ``mlp.{gate,up,down}_proj`` -> ``mlp.{gate,up,down}``,
``input_layernorm`` / ``post_attention_layernorm`` -> ``ln_1`` / ``ln_2``,
``model.norm`` -> ``ln_f``, ``model.embed_tokens`` -> ``wte``.  Its linear layers
are ``nn.Linear`` already and its rotary embeddings use the same ``rotate_half``
pairing as ``llm_book.attention``, so nothing is transposed or permuted.

Only ``from_hf_gpt2``, ``from_hf_llama`` and ``load_gpt2`` need ``transformers``
(the ``hf`` extra); the conversion itself works on plain tensors.
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


def _llama_rope_theta(hf_config) -> float:
    """The rotary base of a Llama config, refusing any rescaled variant (older and newer transformers)."""
    params = getattr(hf_config, "rope_parameters", None)
    if isinstance(params, Mapping):  # transformers >= 5: {"rope_type": ..., "rope_theta": ...}
        rope_type = params.get("rope_type", params.get("type", "default"))
        if rope_type != "default":
            raise ValueError(f"`hf_config.rope_parameters['rope_type']` (={rope_type!r}) is not supported "
                             f"(rope scaling): llm_book's GPT implements only plain rotary embeddings ('default')")
        extra = sorted(set(params) - {"rope_type", "type", "rope_theta"})
        if extra:
            raise ValueError(f"`hf_config.rope_parameters` has settings llm_book's GPT does not implement: "
                             f"{extra}")
        return float(params["rope_theta"])
    scaling = getattr(hf_config, "rope_scaling", None)
    if scaling is not None:
        raise ValueError(f"`hf_config.rope_scaling` (={scaling!r}) is not supported: llm_book's GPT needs None "
                         f"(plain rotary embeddings)")
    return float(getattr(hf_config, "rope_theta", 10000.0))


def config_from_hf_llama(hf_config) -> GPTConfig:
    """The ``GPTConfig`` of a ``transformers.LlamaConfig``; refuses settings ``GPT`` does not have.

    Raises:
        ValueError: naming the setting and its value (another model type, activation, head size,
            rope scaling, biases in attention or MLP, tensor-parallel pretraining).
    """
    n_head = hf_config.num_attention_heads
    head_dim = getattr(hf_config, "head_dim", None)
    checks = [
        ("model_type", getattr(hf_config, "model_type", None) == "llama", "'llama'"),
        ("hidden_act", getattr(hf_config, "hidden_act", None) == "silu", "'silu' (SwiGLU)"),
        ("attention_bias", not getattr(hf_config, "attention_bias", False), "False (no biases)"),
        ("mlp_bias", not getattr(hf_config, "mlp_bias", False), "False (no biases)"),
        ("pretraining_tp", getattr(hf_config, "pretraining_tp", 1) == 1, "1"),
        ("head_dim", head_dim in (None, hf_config.hidden_size // n_head), "hidden_size // num_attention_heads"),
    ]
    for name, ok, allowed in checks:
        if not ok:
            raise ValueError(f"`hf_config.{name}` (={getattr(hf_config, name, None)!r}) is not supported: "
                             f"llm_book's GPT needs {allowed}")
    return GPTConfig(vocab_size=hf_config.vocab_size, block_size=hf_config.max_position_embeddings,
                     n_layer=hf_config.num_hidden_layers, n_head=n_head, n_embd=hf_config.hidden_size,
                     dropout=0.0, bias=False, causal=True, position="rope",
                     rope_theta=_llama_rope_theta(hf_config), norm="rmsnorm", norm_eps=float(hf_config.rms_norm_eps),
                     mlp="swiglu", mlp_hidden=hf_config.intermediate_size,
                     n_kv_head=getattr(hf_config, "num_key_value_heads", None) or n_head,
                     tie_embeddings=bool(getattr(hf_config, "tie_word_embeddings", False)))


def state_dict_from_hf_llama(hf_state: Mapping[str, torch.Tensor], config: GPTConfig) -> dict[str, torch.Tensor]:
    """Rename a Llama state dict into ``GPT``'s (new tensors; the input is unchanged).

    Args:
        hf_state: ``LlamaForCausalLM.state_dict()``.
        config: the target ``GPTConfig`` (see ``config_from_hf_llama``).

    Returns:
        a state dict for ``GPT(config).load_state_dict``, ``lm_head.weight`` included.
    """
    def take(key: str) -> torch.Tensor:
        if key not in hf_state:
            raise ValueError(f"`hf_state` has no {key!r}; is it a LlamaForCausalLM state dict with "
                             f"{config.n_layer} layers?")
        return hf_state[key].detach().clone()

    out = {"wte.weight": take("model.embed_tokens.weight"), "ln_f.weight": take("model.norm.weight")}
    if tuple(out["wte.weight"].shape) != (config.vocab_size, config.n_embd):
        raise ValueError(f"`hf_state`'s model.embed_tokens.weight has shape {tuple(out['wte.weight'].shape)}, "
                         f"the config needs {(config.vocab_size, config.n_embd)}")
    names = [("input_layernorm", "ln_1"), ("post_attention_layernorm", "ln_2"),
             ("self_attn.q_proj", "attn.query"), ("self_attn.k_proj", "attn.key"),
             ("self_attn.v_proj", "attn.value"), ("self_attn.o_proj", "attn.out"),
             ("mlp.gate_proj", "mlp.gate"), ("mlp.up_proj", "mlp.up"), ("mlp.down_proj", "mlp.down")]
    for i in range(config.n_layer):
        for hf_name, name in names:  # nn.Linear on both sides: (out, in), nothing to transpose
            out[f"blocks.{i}.{name}.weight"] = take(f"model.layers.{i}.{hf_name}.weight")
    head = hf_state.get("lm_head.weight")
    if config.tie_embeddings:
        if head is not None and not torch.equal(head, out["wte.weight"]):
            raise ValueError("`hf_state`'s lm_head.weight differs from its model.embed_tokens.weight, but "
                             "the config ties them (tie_embeddings=True)")
        out["lm_head.weight"] = out["wte.weight"]
    else:
        out["lm_head.weight"] = take("lm_head.weight")
    return out


def from_hf_llama(hf_model) -> GPT:
    """A ``GPT`` with the weights of a ``transformers.LlamaForCausalLM`` (in eval mode, on its device and dtype).

    Example:
        >>> from transformers import LlamaConfig, LlamaForCausalLM
        >>> hf = LlamaForCausalLM(LlamaConfig(vocab_size=50, hidden_size=32, intermediate_size=64,
        ...     num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64))
        >>> model = from_hf_llama(hf)          # same logits as hf(idx).logits
    """
    if not hasattr(hf_model, "config") or not hasattr(hf_model, "state_dict"):
        raise TypeError(f"`hf_model` has to be a transformers LlamaForCausalLM, got {type(hf_model).__name__}")
    config = config_from_hf_llama(hf_model.config)
    state = state_dict_from_hf_llama(hf_model.state_dict(), config)
    dtype = state["wte.weight"].dtype
    with torch.random.fork_rng(devices=[]):  # building the model draws random weights: leave the caller's stream
        model = GPT(config)
    model.load_state_dict(state)
    return model.to(device=model_device(hf_model), dtype=dtype).eval()


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
