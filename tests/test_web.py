"""The browser's model file (llm_book.web) and the website extension that serves it (_ext/explorers.py).

The numbers the browser computes from this file are compared with llm_book's in
tests/test_web_parity.py (headless Chromium); here: the file itself.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import json
import re
import struct
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch

from llm_book import pretrained, web
from llm_book.language import ToyLanguage

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def payload() -> dict:
    return web.web_model_payload()


def _load_ext(name: str):
    spec = importlib.util.spec_from_file_location(f"_ext_{name}", ROOT / "_ext" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_weights_decode_to_the_checkpoint_exactly(payload):
    model, tokenizer = pretrained.load_toy_gpt()
    state = model.state_dict()
    assert payload["format"] == 1
    assert payload["config"] == model.config.to_dict()
    assert payload["vocab"] == tokenizer.vocab
    # tied embeddings: the output layer is wte.weight, stored once
    assert set(payload["weights"]) == set(state) - {"lm_head.weight"}
    assert torch.equal(state["lm_head.weight"], state["wte.weight"])
    for name, entry in payload["weights"].items():
        decoded = torch.from_numpy(web.decode_tensor(entry).copy())
        assert decoded.dtype == torch.float32 and list(decoded.shape) == list(state[name].shape), name
        assert torch.equal(decoded, state[name]), name  # bit for bit


def test_source_names_the_shipped_checkpoint(payload):
    source = payload["source"]
    assert source["checkpoint"] == pretrained.TOY_GPT_PATH.name
    assert source["sha256"] == hashlib.sha256(pretrained.TOY_GPT_PATH.read_bytes()).hexdigest()


def test_encode_tensor_is_little_endian_float32():
    entry = web.encode_tensor(torch.tensor([[1.0, -2.5], [0.1, 3e38]]))
    assert entry["shape"] == [2, 2]
    assert entry["data"] == "AACAPwAAIMDNzMw95rFhfw=="
    assert base64.b64decode(entry["data"]) == struct.pack("<4f", 1.0, -2.5, 0.1, 3e38)
    np.testing.assert_array_equal(web.decode_tensor(entry), np.float32([[1.0, -2.5], [0.1, 3e38]]))


def _walk(table: dict, words: list[str]) -> tuple[int, float]:
    state, prob = table["start"], 1.0
    for word in words:
        row = {w: (p, nxt) for w, p, nxt in table["states"][state]}
        if word not in row:
            return state, 0.0
        p, state = row[word]
        prob *= p
    return state, prob


def test_automaton_equals_toy_language_on_every_state(payload):
    lang = ToyLanguage()
    table = payload["language"]
    states = lang._all_states()
    assert table["vocab"] == lang.vocab == payload["vocab"]
    assert len(table["states"]) == len(table["names"]) == len(states) == 92
    assert table["names"][table["start"]] == "start"
    for i, state in enumerate(states):
        expected = [(w, float(p), states.index(nxt)) for w, p, nxt in lang._transitions(state)]
        assert [tuple(row) for row in table["states"][i]] == expected, table["names"][i]
    # Walking the table: every prefix of every sentence, its probabilities and its state.
    seen_states = set()
    for words, probability in lang.sentences():
        state, prob = _walk(table, words)
        assert prob == pytest.approx(probability, rel=1e-12, abs=0)
        assert table["states"][state] == []  # a whole sentence ends in the end state
        for t in range(len(words)):
            state, _ = _walk(table, words[:t])
            seen_states.add(state)
            row = {w: p for w, p, _ in table["states"][state]}
            assert row == lang.next_token_probs(words[:t])
    assert len(seen_states) == len(states) - 1  # every state but the end is reached by some prefix


def test_state_names_are_readable(payload):
    names = payload["language"]["names"]
    assert "verb (cat, sg)" in names and "place (bird, pl)" in names and "end" in names
    assert len(set(names)) == len(names)


def test_exact_probabilities_survive_as_floats(payload):
    table = payload["language"]
    _, prob = _walk(table, "The cat sat on the".split())
    assert prob == pytest.approx(0.0384, abs=1e-15)
    assert float(Fraction("0.2") * Fraction("0.4") * Fraction("0.6") * Fraction("0.8")) == 0.0384


def test_payload_json_is_compact_and_deterministic(payload):
    text = web.payload_json(payload)
    assert text == web.payload_json()  # generated again from the checkpoint: the same bytes
    assert ": " not in text[:200] and ", " not in text[:200]
    assert json.loads(text) == payload
    assert "</" not in text  # safe to inline in a <script> element
    assert len(text.encode()) < 700_000


def test_write_web_model_and_assets(tmp_path, payload):
    path = web.write_web_model(tmp_path / "sub" / "toy-gpt.json")
    assert path == tmp_path / "sub" / "toy-gpt.json"
    assert json.loads(path.read_text()) == payload
    written = web.write_web_assets(tmp_path / "site")
    names = {p.name for p in written}
    assert {"toy-gpt.json", "toy-gpt.js", "engine.js"} <= names
    assert (tmp_path / "site" / "engine.js").read_text() == web.engine_source()
    script = (tmp_path / "site" / "toy-gpt.js").read_text()
    assert script.startswith("window.llmBookModelPayload = {") and script.endswith("};\n")
    assert json.loads(script[len("window.llmBookModelPayload = "):-2]) == payload
    for name in ("explorers.js", "explorers.css"):  # copied when the UI's files exist
        assert (name in names) == (web.WEB_DIR / name).is_file()


def test_engine_source_is_self_contained():
    source = web.engine_source()
    assert "window.llmBook" in source or "root.llmBook" in source
    assert "</script" not in source.lower()  # can be inlined into an HTML output
    assert not re.search(r"https?://", source)  # loads nothing from anywhere but its model file
    assert "import " not in source and "require(" not in source


def test_messages():
    with pytest.raises(TypeError, match=r"`path` has to be a str or a Path, got int"):
        web.write_web_model(3)
    with pytest.raises(TypeError, match=r"`out_dir` has to be a str or a Path, got NoneType"):
        web.write_web_assets(None)
    with pytest.raises(TypeError, match=r"`language` has to be a ToyLanguage, got str"):
        web.language_table("The cat")


def test_command_line(tmp_path, capsys):
    assert web.main([]) == 2
    assert "usage: python -m llm_book.web OUT_DIR" in capsys.readouterr().err
    assert web.main([str(tmp_path)]) == 0
    assert "toy-gpt.json" in capsys.readouterr().out
    assert (tmp_path / "toy-gpt.json").is_file() and (tmp_path / "engine.js").is_file()


def test_package_data_ships_the_browser_files():
    text = (ROOT / "pyproject.toml").read_text()
    data = re.search(r"llm_book = \[(.*?)\]", text).group(1)
    assert '"web/*.js"' in data and '"web/*.css"' in data
    assert (web.WEB_DIR / "engine.js").is_file()


# ------------------------------------------------------------------ the website extension
PAGE = """<html><head><title>t</title>
</head><body>
<div class="cell_output"><div class="llm-book-explorer" data-explorer="sampling" data-config='{"seed": 0}'>
<img alt="fallback" src="data:image/png;base64,AAAA"></div>
<style data-llm-book-inline>.llm-book-explorer { color: red }</style>
<script data-llm-book-inline>/* engine */ (function(){})();</script>
<script type="application/json" data-llm-book-payload>{"format":1}</script>
<script data-llm-book-bootstrap>llmBook.load(1)</script>
<script>var kept = 1;</script>
</div></body></html>"""


def test_extension_swaps_inline_copies_for_shared_files():
    ext = _load_ext("explorers")
    new = ext.rewrite_page(PAGE, "../_static")
    assert "data-llm-book-inline" not in new and "data-llm-book-payload" not in new
    assert "data-llm-book-bootstrap" not in new and "/* engine */" not in new and "color: red" not in new
    assert "var kept = 1;" in new and 'data-explorer="sampling"' in new and 'alt="fallback"' in new
    head = new[:new.index("</head>")]
    # the model's address is relative to engine.js: the file beside it
    assert '<script defer src="../_static/llm-book/engine.js" data-llm-book-model="toy-gpt.json"></script>' in head
    assert head.index("llm-book/engine.js") < head.index("llm-book/explorers.js")
    assert '<link rel="stylesheet" href="../_static/llm-book/explorers.css">' in head
    assert ext.rewrite_page(new, "../_static") == new  # a second pass changes nothing
    # the CDN check that runs after it finds nothing to complain about
    hosted = _load_ext("self_hosted_assets")
    assert not hosted.EXTERNAL_SCRIPT.search(new) and not hosted.CDN.search(new)


def test_extension_leaves_pages_without_explorers_alone():
    ext = _load_ext("explorers")
    page = PAGE.replace('class="llm-book-explorer"', 'class="other"')
    assert ext.rewrite_page(page, "_static") == page


def test_extension_is_registered_and_runs_before_the_cdn_check():
    config = (ROOT / "_config.yml").read_text()
    assert re.search(r"local_extensions:\n(\s+\w+: _ext\n)*\s+explorers: _ext", config)
    source = (ROOT / "_ext" / "explorers.py").read_text()
    assert 'app.connect("build-finished", _rewrite, priority=400)' in source  # default is 500
