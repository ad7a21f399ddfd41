"""The browser's engine (llm_book/web/engine.js) computes what llm_book computes.

A tiny page on 127.0.0.1 loads engine.js, which fetches the model file written by
``llm_book.web.write_web_model``; headless Chromium (every request off this machine
blocked, console errors fail the test) runs the JavaScript forward pass, the exact
toy language and the sampling filters, and the answers are compared with llm_book's:

* toyGPT: next-token probabilities, attention maps and the chain rule's conditionals
  for every prefix of a few hundred sampled sentences and for random word strings
  (within 1e-4; the maxima are printed: float64 in JavaScript vs float32 in PyTorch);
* toyLanguage: every prefix of every sentence of the language (exact to 1e-12, and
  the same error messages as Python's);
* sampling: softmax(filter_logits) over a grid of settings (within 1e-5), errors for
  invalid settings, and seeded sampling that repeats and only draws allowed words.
"""

from __future__ import annotations

import json
import math
import random
import sys
from pathlib import Path

import pytest
import torch

from llm_book import web
from llm_book.language import ToyLanguage
from llm_book.pretrained import load_toy_gpt
from llm_book.probability import sequence_log_probs
from llm_book.sampling import filter_logits

sys.path.insert(0, str(Path(__file__).parent))
from offline_browser import chromium, open_offline, playwright_or_skip, serve  # noqa: E402

playwright_or_skip()

PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>engine</title>
<script src="engine.js" data-llm-book-model="toy-gpt.json"></script></head><body>engine parity</body></html>"""


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    root = tmp_path_factory.mktemp("engine-page")
    web.write_web_assets(root)
    (root / "index.html").write_text(PAGE, encoding="utf-8")
    with serve(root) as base:
        yield root, base


@pytest.fixture(scope="module")
def browser():
    with chromium(["--allow-file-access-from-files"]) as browser:
        yield browser


def _open(browser, url: str, problems: list[str]):
    """The page at ``url`` (requests off the machine blocked), once the engine has loaded its model."""
    _, page = open_offline(browser, url, problems, viewport=(1280, 720))
    page.wait_for_function("() => window.llmBook && window.llmBook.loaded", timeout=20000)
    return page


@pytest.fixture(scope="module")
def engine(served, browser):
    """The page with the engine loaded; yields (page, problems); no problem may be recorded."""
    problems: list[str] = []
    page = _open(browser, f"{served[1]}/index.html", problems)
    yield page, problems
    page.context.close()
    assert not problems, "\n".join(problems)


@pytest.fixture(scope="module")
def toy():
    return load_toy_gpt()


def _prefixes() -> list[list[str]]:
    """Every prefix (up to 16 words) of 150 sampled sentences, and 60 random word strings."""
    lang = ToyLanguage()
    out = {tuple(s[:t]) for s in lang.sample(150, seed=7) for t in range(1, min(len(s), 16) + 1)}
    rng = random.Random(3)
    for _ in range(60):
        out.add(tuple(rng.choice(lang.vocab) for _ in range(rng.randint(1, 16))))
    out.add(tuple(["The"] * 16))
    return [list(p) for p in sorted(out)]


def _python_outputs(model, tokenizer, words: list[str]):
    idx = torch.tensor([tokenizer.encode(words)])
    with torch.no_grad():
        out = model(idx, output_attentions=True)
    probs = torch.softmax(out.logits[0, -1].double(), dim=-1)
    attention = torch.stack([a[0] for a in out.attentions]).double()  # (layer, head, T, T)
    return probs, attention, out.logits[0, -1]


def test_gpt_matches_pytorch(engine, toy):
    page, problems = engine
    model, tokenizer = toy
    prefixes = _prefixes()
    assert len(prefixes) >= 300
    got = page.evaluate("""(prefixes) => prefixes.map(words => {
        const p = llmBook.toyGPT.nextTokenProbs(words);
        return {probs: llmBook.toyGPT.vocab.map(w => p[w]), logits: llmBook.toyGPT.logits(words),
                attention: llmBook.toyGPT.attention(words),
                conditionals: llmBook.toyGPT.conditionalProbs(words)};
    })""", prefixes)
    worst = {"probs": 0.0, "logits": 0.0, "attention": 0.0, "conditionals": 0.0, "row sums": 0.0}
    for words, js in zip(prefixes, got):
        probs, attention, logits = _python_outputs(model, tokenizer, words)
        worst["probs"] = max(worst["probs"], (torch.tensor(js["probs"]) - probs).abs().max().item())
        worst["logits"] = max(worst["logits"], (torch.tensor(js["logits"]) - logits.double()).abs().max().item())
        js_attention = torch.tensor(js["attention"], dtype=torch.float64)
        assert js_attention.shape == attention.shape == (2, 4, len(words), len(words))
        assert (js_attention.triu(1) == 0).all()  # causal: nothing above the diagonal
        worst["attention"] = max(worst["attention"], (js_attention - attention).abs().max().item())
        worst["row sums"] = max(worst["row sums"], (js_attention.sum(-1) - 1).abs().max().item())
        if len(words) >= 2:
            expected = sequence_log_probs(model, torch.tensor([tokenizer.encode(words)]))[0].double().exp()
            worst["conditionals"] = max(worst["conditionals"],
                                        (torch.tensor(js["conditionals"]) - expected).abs().max().item())
        else:
            assert js["conditionals"] == []
    print(f"\nJS vs PyTorch over {len(prefixes)} prefixes, max abs difference: "
          + ", ".join(f"{k} {v:.2e}" for k, v in worst.items()))
    assert worst["probs"] < 1e-4 and worst["attention"] < 1e-4 and worst["conditionals"] < 1e-4
    assert worst["row sums"] < 1e-12
    js_0384 = page.evaluate("() => llmBook.toyGPT.conditionalProbs('The cat sat on the'.split(' '))")
    assert math.prod(js_0384) == pytest.approx(0.0384, abs=0.01)  # the model has learned the language
    assert not problems


def _python_language(lang: ToyLanguage, words: list[str]) -> dict:
    try:
        return {"probs": lang.next_token_probs(words)}
    except ValueError as err:
        return {"error": str(err)}


def test_language_matches_python_on_every_prefix(engine):
    page, problems = engine
    lang = ToyLanguage()
    prefixes = {tuple(w[:t]) for w, _ in lang.sentences() for t in range(len(w) + 1)}
    rng = random.Random(5)
    for _ in range(200):  # mostly impossible strings
        prefixes.add(tuple(["The"] + [rng.choice(lang.vocab) for _ in range(rng.randint(0, 6))]))
    prefixes = [list(p) for p in sorted(prefixes)]
    got = page.evaluate("""(prefixes) => prefixes.map(words => {
        try { return {probs: llmBook.toyLanguage.nextTokenProbs(words)}; }
        catch (e) { return {error: e.message}; }
    })""", prefixes)
    worst, n_errors = 0.0, 0
    for words, js in zip(prefixes, got):
        expected = _python_language(lang, words)
        if "error" in expected:
            n_errors += 1
            assert js.get("error") == expected["error"], words
        else:
            assert set(js["probs"]) == set(expected["probs"]), words
            worst = max([worst] + [abs(js["probs"][w] - p) for w, p in expected["probs"].items()])
    print(f"\nToyLanguage: {len(prefixes)} prefixes ({n_errors} impossible or ended, same messages), "
          f"max abs difference {worst:.1e}")
    assert worst <= 1e-12 and n_errors > 100 and len(prefixes) > 17000
    # chain rule and sentence probabilities on sampled sentences and impossible ones
    sentences = [s for s in lang.sample(100, seed=11)] + [p for p in prefixes[:: 97] if p]
    got = page.evaluate("""(sentences) => sentences.map(w => {
        try { return {cond: llmBook.toyLanguage.conditionalProbs(w), prob: llmBook.toyLanguage.sentenceProbability(w)}; }
        catch (e) { return {error: e.message}; } })""", sentences)
    for words, js in zip(sentences, got):
        try:
            cond = lang.conditional_probs(words)
        except ValueError as err:
            assert js == {"error": str(err)}, words
            continue
        assert js["cond"] == pytest.approx(cond, abs=1e-12), words
        assert js["prob"] == pytest.approx(lang.sentence_probability(words), abs=1e-12), words
    assert page.evaluate("() => llmBook.toyLanguage.sentenceProbability('The cat sat on the'.split(' '))") \
        == pytest.approx(0.0384, abs=1e-15)
    assert not problems


SETTINGS = [{"temperature": t, "topK": k, "topP": p}
            for t in (0.25, 0.7, 1, 1.5, 4) for k in (0, 1, 2, 5, 35) for p in (1, 0.3, 0.8, 0.9, 0.97)]
SETTINGS += [{"temperature": 1e-3}, {"temperature": 1e-40}, {"temperature": 1e-40, "topP": 0.5}, {}]


def test_filter_probs_match_filter_logits(engine, toy):
    page, problems = engine
    model, tokenizer = toy
    logit_rows = []
    for words in (["The"], ["The", "cat"], ["The", "cat", "sat", "on"], ["The", "dogs", "that", "the"],
                  ["The", "bird", "sat", "on", "a"]):
        with torch.no_grad():
            logit_rows.append(model(torch.tensor([tokenizer.encode(words)])).logits[0, -1])
    logit_rows.append(torch.tensor([2.0, 2.0, 1.0, 1.0, 0.0, float("-inf")]))  # ties and a removed token
    got = page.evaluate("""([rows, settings]) => rows.map(r => settings.map(s =>
        llmBook.sampling.filterProbs(r.map(x => x === null ? -Infinity : x), s)))""",
                        [[[None if math.isinf(x) else x for x in row.tolist()] for row in logit_rows], SETTINGS])
    worst = 0.0
    for row, js_row in zip(logit_rows, got):
        for settings, js in zip(SETTINGS, js_row):
            k, p = settings.get("topK") or None, settings.get("topP", 1)
            expected = torch.softmax(filter_logits(row, settings.get("temperature", 1), k,
                                                   None if p == 1 else p).double(), dim=-1)
            js = torch.tensor(js, dtype=torch.float64)
            assert ((js == 0) == (expected == 0)).all(), settings  # the same tokens kept
            worst = max(worst, (js - expected).abs().max().item())
    print(f"\nfilterProbs vs softmax(filter_logits), {len(logit_rows)} x {len(SETTINGS)} settings: "
          f"max abs difference {worst:.1e}")
    assert worst < 1e-5
    assert not problems


def test_errors_name_the_problem(engine, toy):
    page, problems = engine
    calls = {
        "unknown": "llmBook.toyGPT.nextTokenProbs(['The', 'unicorn'])",
        "empty": "llmBook.toyGPT.nextTokenProbs([])",
        "long": "llmBook.toyGPT.attention(Array(17).fill('The'))",
        "string": "llmBook.toyGPT.logits('The cat')",
        "impossible": "llmBook.toyLanguage.nextTokenProbs(['The', 'cat', 'mat'])",
        "ended": "llmBook.toyLanguage.nextTokenProbs(['The', 'cat', 'sat', '<eos>'])",
        "lang unknown": "llmBook.toyLanguage.nextTokenProbs(['The', 'unicorn'])",
        "start": "llmBook.toyLanguage.conditionalProbs(['cat', 'sat'])",
        "temperature 0": "llmBook.sampling.filterProbs([1, 2], {temperature: 0})",
        "temperature nan": "llmBook.sampling.filterProbs([1, 2], {temperature: NaN})",
        "temperature str": "llmBook.sampling.filterProbs([1, 2], {temperature: '1'})",
        "topK": "llmBook.sampling.filterProbs([1, 2], {topK: 1.5})",
        "topK negative": "llmBook.sampling.filterProbs([1, 2], {topK: -1})",
        "topP 0": "llmBook.sampling.filterProbs([1, 2], {topP: 0})",
        "topP big": "llmBook.sampling.filterProbs([1, 2], {topP: 1.5})",
        "seed": "llmBook.sampling.sample(['The'], {seed: -1})",
        "sample unknown": "llmBook.sampling.sample(['The', 'unicorn'], {seed: 1})",
        "logits nan": "llmBook.sampling.filterProbs([1, NaN])",
        "payload": "llmBook.load({format: 2})",
    }
    got = page.evaluate("""(calls) => Object.fromEntries(Object.entries(calls).map(([name, code]) => {
        try { eval(code); return [name, null]; } catch (e) { return [name, e.name + ': ' + e.message]; } }))""",
                        calls)
    lang = ToyLanguage()
    _, tokenizer = toy
    expected_python = {  # where Python has the same check, the same words
        "impossible": _python_language(lang, ["The", "cat", "mat"])["error"],
        "ended": _python_language(lang, ["The", "cat", "sat", "<eos>"])["error"],
        "lang unknown": _python_language(lang, ["The", "unicorn"])["error"],
    }
    for name, message in expected_python.items():
        assert got[name] == "Error: " + message, name
    for message in (_error(lambda: tokenizer.encode(["The", "unicorn"])),
                    _error(lambda: lang.conditional_probs(["cat", "sat"]))):
        assert any(js and js.endswith(message) for js in got.values()), message
    assert _error(lambda: filter_logits(torch.zeros(2), 0)) == got["temperature 0"].removeprefix("Error: ")
    assert got["empty"].startswith("Error: `words` has to be a non-empty list of words")
    assert got["long"] == ("Error: `words` is 17 words long but the model's `block_size` is 16; use at most 16 "
                           "words (e.g. the last 16)")
    assert got["string"].startswith("TypeError: `words` has to be a list of words, got the string 'The cat'")
    assert got["temperature nan"].startswith("Error: `temperature` (=nan) has to be a strictly positive, finite")
    assert got["temperature str"].startswith("TypeError: `temperature` (='1') has to be")
    for name in ("topK", "topK negative"):
        assert "has to be an integer >= 1 (the number of tokens kept)" in got[name], got[name]
    assert got["topP 0"] == ("Error: `topP` (=0) has to be a float in (0, 1]: greater than 0, at most 1 "
                             "(1 keeps every token)")
    assert got["topP big"].startswith("Error: `topP` (=1.5) has to be a float in (0, 1]")
    assert got["seed"] == "Error: `seed` (=-1) has to be an integer from 0 to 4294967295"
    assert got["sample unknown"].startswith("Error: unknown word 'unicorn' in `words`")
    assert got["logits nan"].startswith("Error: `logits` holds nan at position 1")
    assert got["payload"].startswith("Error: not an LLM Book model file (format 2, expected 1)")
    assert all(got.values()), {k: v for k, v in got.items() if not v}
    assert not problems


def _error(call) -> str:
    try:
        call()
    except (TypeError, ValueError) as err:
        return str(err)
    raise AssertionError("no error")


SAMPLE_SETTINGS = [{"temperature": 1}, {"temperature": 0.5, "topK": 3}, {"temperature": 1.5, "topP": 0.9},
                   {"temperature": 2, "topK": 5, "topP": 0.8}, {"temperature": 1e-40}]


def test_sampling_repeats_and_draws_only_allowed_words(engine, toy):
    page, problems = engine
    model, tokenizer = toy
    prefixes = [["The"], ["The", "cat"], ["The", "dogs", "that", "the", "mouse"]]
    jobs = [{"prefix": p, **s, "seed": seed} for p in prefixes for s in SAMPLE_SETTINGS for seed in (0, 1, 2)]
    got = page.evaluate("""(jobs) => jobs.map(j => [llmBook.sampling.sample(j.prefix, j),
                                                   llmBook.sampling.sample(j.prefix, j)])""", jobs)
    distinct = set()
    for job, (first, again) in zip(jobs, got):
        assert first == again, job  # the same seed, the same words
        words = job["prefix"] + first
        assert len(words) <= 16 and first, job
        assert first[-1] == "<eos>" or len(words) == 16, job
        assert "<eos>" not in first[:-1]
        k, p = job.get("topK"), job.get("topP")
        for t in range(len(job["prefix"]), len(words)):
            with torch.no_grad():
                logits = model(torch.tensor([tokenizer.encode(words[:t])])).logits[0, -1]
            kept = torch.isfinite(filter_logits(logits, job["temperature"], k, p))
            assert kept[tokenizer.encode([words[t]])[0]], (job, words[:t + 1])
        distinct.add((tuple(job["prefix"]), json.dumps({k: v for k, v in job.items() if k != "seed"}),
                      tuple(first)))
    assert len(distinct) > len(jobs) / 3  # different seeds give different continuations
    # greedy-like temperature: every seed gives the most probable path
    greedy = [tuple(first) for job, (first, _) in zip(jobs, got) if job["temperature"] == 1e-40]
    assert len(set(greedy)) == len(prefixes)
    limits = page.evaluate("""() => [llmBook.sampling.sample(['The'], {seed: 3, maxWords: 2}).length,
        llmBook.sampling.sample(Array(16).fill('The'), {seed: 3}).length,
        llmBook.sampling.sample(['The', 'cat', 'sat', '<eos>'], {seed: 3}).length,
        llmBook.sampling.sample(['The'], {seed: 3, maxWords: 0}).length]""")
    assert limits == [2, 0, 0, 0]
    assert not problems


def test_loading_is_idempotent(engine, served):
    page, problems = engine
    root, base = served
    same = page.evaluate("""async () => {
        const gpt = llmBook.toyGPT, language = llmBook.toyLanguage;
        const payload = await (await fetch('toy-gpt.json')).json();
        await llmBook.load(payload);
        const afterLoad = llmBook.toyGPT === gpt && llmBook.toyLanguage === language;
        const api = llmBook;
        await new Promise((resolve, reject) => {  // a second copy of the engine on the page
            const s = document.createElement('script');
            s.src = 'engine.js'; s.setAttribute('data-llm-book-model', 'toy-gpt.json');
            s.onload = resolve; s.onerror = reject; document.head.appendChild(s);
        });
        const ready = await llmBook.ready;
        return [afterLoad, window.llmBook === api, ready === api, llmBook.toyGPT === gpt];
    }""")
    assert same == [True, True, True, True]
    assert not problems


def test_inline_payload_and_file_pages(browser, served):
    """No fetch: load() from an inline JSON string (the notebook path), and a page opened from disk."""
    root, _ = served
    problems: list[str] = []
    inline = root / "inline.html"
    text = web.payload_json()
    inline.write_text("<!doctype html><html><head><meta charset='utf-8'>"
                      f"<script>{web.engine_source()}</script>"
                      f"<script type='application/json' id='p'>{text}</script>"
                      "<script>llmBook.load(document.getElementById('p').textContent)</script>"
                      "</head><body></body></html>", encoding="utf-8")
    for url in (inline.as_uri(), (root / "index.html").as_uri()):
        page = _open(browser, url, problems)
        probs = page.evaluate("() => llmBook.toyLanguage.nextTokenProbs(['The', 'cat', 'sat', 'on'])")
        assert probs == {"the": 0.8, "a": 0.2}
        assert page.evaluate("() => llmBook.toyGPT.nextTokenProbs(['The', 'cat', 'sat', 'on']).the") \
            == pytest.approx(0.8038, abs=1e-3)
        page.context.close()
    assert not problems, problems


def test_website_pages_load_the_shared_engine(tmp_path, browser):
    """A one-page book with an explorer output, built by Jupyter Book with the site's extensions:
    the inline copies are gone, <head> loads _static/llm-book/, and the explorer mounts offline."""
    import shutil
    import subprocess

    import nbformat

    from llm_book.explorers import chain_rule_explorer

    root = Path(__file__).resolve().parents[1]
    if shutil.which("jupyter-book") is None:
        pytest.skip("jupyter-book is not installed (run scripts/setup.sh)")
    if not (root / "_site_assets" / "offline" / "mathjax").is_dir():
        pytest.skip("_site_assets/offline/ is missing: run `npm ci && python scripts/fetch_assets.py`")
    book = tmp_path / "book"
    book.mkdir()
    for name in ("_ext", "_site_assets", "references.bib", "_config.yml"):
        (book / name).symlink_to(root / name)
    (book / "_toc.yml").write_text("format: jb-book\nroot: index\n")
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    cell = nbformat.v4.new_code_cell("chain_rule_explorer()")
    cell.outputs = [nbformat.v4.new_output("display_data", data=chain_rule_explorer()._repr_mimebundle_())]
    notebook.cells = [nbformat.v4.new_markdown_cell("# One explorer"), cell]
    nbformat.write(notebook, book / "index.ipynb")
    result = subprocess.run(["jupyter-book", "build", str(book), "--path-output", str(tmp_path / "out"),
                             "--warningiserror", "--nitpick", "--keep-going"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    html = tmp_path / "out" / "_build" / "html"
    page = (html / "index.html").read_text()
    assert "data-llm-book-inline" not in page and "data-llm-book-payload" not in page
    assert '<script defer src="_static/llm-book/engine.js" data-llm-book-model="toy-gpt.json">' in page
    assert len(page.encode()) < 300_000  # the model is not inlined
    assert (html / "_static" / "llm-book" / "toy-gpt.json").read_text() == web.payload_json()
    assert (html / "_static" / "llm-book" / "engine.js").read_text() == web.engine_source()

    problems: list[str] = []
    with serve(html) as base:
        page = _open(browser, f"{base}/index.html", problems)
        page.wait_for_function("() => document.querySelector('.llm-book-explorer').dataset.mounted === 'ready'",
                               timeout=20000)
        page.context.close()
    assert not problems, problems
