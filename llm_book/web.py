"""The tiny GPT and the exact toy language, packed for the reader's browser.

The explorers of Chapters 2, 4 and 5c compute in the browser, with no kernel and
no server: ``llm_book/web/engine.js`` is a small hand-written forward pass of the
shipped tiny GPT (``load_toy_gpt``), and this module writes what it reads, one
JSON "model file" with

* the checkpoint's weights, each as base64 of its little-endian float32 bytes
  (decoding gives the checkpoint's tensors bit for bit), and its config and vocabulary;
* ``ToyLanguage`` as an automaton table: for every reachable state, the words
  that may follow with their exact probabilities (as floats) and the next state.

The file is always generated from the checkpoint, never edited::

    python -m llm_book.web OUT_DIR     # writes toy-gpt.json, toy-gpt.js and engine.js there

``scripts/fetch_assets.py`` runs the same function for the website; in Jupyter and
Colab ``llm_book.explorers`` inlines ``engine_source()`` and the payload.
"""

from __future__ import annotations

import base64
import json
import shutil
import sys
from pathlib import Path

import numpy as np

from llm_book.language import ToyLanguage

WEB_DIR = Path(__file__).resolve().parent / "web"
FORMAT = 1
MODEL_FILE = "toy-gpt.json"
MODEL_SCRIPT = "toy-gpt.js"  # the same payload as a script, for pages opened from disk (file://)


def encode_tensor(tensor) -> dict:
    """``{"shape": [...], "data": base64 of little-endian float32}`` for a tensor or array."""
    array = np.ascontiguousarray(np.asarray(tensor.detach().cpu() if hasattr(tensor, "detach") else tensor),
                                 dtype="<f4")
    return {"shape": list(array.shape), "data": base64.b64encode(array.tobytes()).decode("ascii")}


def decode_tensor(entry: dict) -> np.ndarray:
    """The inverse of ``encode_tensor``: a float32 array of the stored shape."""
    return np.frombuffer(base64.b64decode(entry["data"]), dtype="<f4").reshape(entry["shape"])


def _state_name(state) -> str:
    """A readable name of a ToyLanguage state, e.g. "verb (cat, sg)"."""
    details = [part for part in (state.animal, state.number) if part]
    return state.stage + (f" ({', '.join(details)})" if details else "")


def language_table(language: ToyLanguage | None = None) -> dict:
    """ToyLanguage as an automaton: ``{"vocab", "start", "states", "names"}``.

    ``states[i]`` lists ``[word, probability, next state index]`` in the grammar's order;
    a state with no entry is the end of a sentence.
    """
    language = ToyLanguage() if language is None else language
    if not isinstance(language, ToyLanguage):
        raise TypeError(f"`language` has to be a ToyLanguage, got {type(language).__name__}")
    states = language._all_states()
    index = {state: i for i, state in enumerate(states)}
    start = next(i for i, state in enumerate(states) if state.stage == "start")
    table = [[[word, float(p), index[nxt]] for word, p, nxt in language._transitions(state)]
             for state in states]
    return {"vocab": list(language.vocab), "start": start, "states": table,
            "names": [_state_name(state) for state in states]}


def web_model_payload() -> dict:
    """The model file's content, from the shipped checkpoint and ``ToyLanguage``.

    Returns:
        ``{"format": 1, "source": {"checkpoint", "sha256"}, "config": GPTConfig fields,
        "vocab": the tokenizer's words, "weights": {name: {"shape", "data"}}, "language": language_table()}``.
        The weights are the checkpoint's tensors; with tied embeddings ``lm_head.weight`` is
        ``wte.weight`` and is stored once (the engine reads ``wte.weight`` for the output layer).
    """
    from llm_book import pretrained

    model, tokenizer = pretrained.load_toy_gpt()
    state = model.state_dict()
    names = [name for name in state if not (name == "lm_head.weight" and model.config.tie_embeddings)]
    return {
        "format": FORMAT,
        "source": {"checkpoint": pretrained.TOY_GPT_PATH.name, "sha256": pretrained.TOY_GPT_SHA256},
        "config": model.config.to_dict(),
        "vocab": list(tokenizer.vocab),
        "weights": {name: encode_tensor(state[name]) for name in names},
        "language": language_table(),
    }


def payload_json(payload: dict | None = None) -> str:
    """The payload as compact JSON text (what the model file holds)."""
    return json.dumps(web_model_payload() if payload is None else payload, separators=(",", ":"),
                      allow_nan=False)


def write_web_model(path) -> Path:
    """Write the model file (compact JSON) to ``path``; returns the path."""
    if not isinstance(path, (str, Path)):
        raise TypeError(f"`path` has to be a str or a Path, got {type(path).__name__}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(payload_json(), encoding="utf-8")
    return path


def engine_source() -> str:
    """The text of ``engine.js`` (the browser's forward pass and the exact language)."""
    return (WEB_DIR / "engine.js").read_text(encoding="utf-8")


def write_web_assets(out_dir) -> list[Path]:
    """Write everything the website's explorers load into ``out_dir``.

    ``toy-gpt.json`` (the model file), ``toy-gpt.js`` (the same, as a script for pages opened
    from disk, where browsers refuse to fetch files), ``engine.js`` and, when present, the
    explorers' ``explorers.js`` and ``explorers.css``.

    Returns:
        the paths written.
    """
    if not isinstance(out_dir, (str, Path)):
        raise TypeError(f"`out_dir` has to be a str or a Path, got {type(out_dir).__name__}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    text = payload_json()
    written = [out_dir / MODEL_FILE, out_dir / MODEL_SCRIPT]
    written[0].write_text(text, encoding="utf-8")
    written[1].write_text(f"window.llmBookModelPayload = {text};\n", encoding="utf-8")
    for name in ("engine.js", "explorers.js", "explorers.css"):
        if (WEB_DIR / name).is_file():
            shutil.copyfile(WEB_DIR / name, out_dir / name)
            written.append(out_dir / name)
    return written


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1 or argv[0].startswith("-"):
        print("usage: python -m llm_book.web OUT_DIR  (writes toy-gpt.json, toy-gpt.js, engine.js, "
              "explorers.js/.css)", file=sys.stderr)
        return 2
    for path in write_web_assets(argv[0]):
        print(f"wrote {path} ({path.stat().st_size:,} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
