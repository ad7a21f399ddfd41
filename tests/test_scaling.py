"""Power-law fits recover known laws; the experiment trains every size on the same tokens; results load."""

import json
import math

import numpy as np
import pytest

from llm_book.corpus import CharCorpus, pydoc_text
from llm_book.scaling import (
    SCALING_RESULTS_PATH,
    PowerLaw,
    fit_power_law,
    heads_for,
    learning_rate,
    load_scaling_results,
    main,
    non_embedding_parameters,
    run_scaling_experiment,
)

N = np.array([1e3, 1e4, 1e5, 1e6])


def test_fit_recovers_an_exact_power_law():
    law = fit_power_law(N, 5.0 * N ** -0.1)
    assert law.a == pytest.approx(5.0) and law.alpha == pytest.approx(0.1) and law.c == 0.0
    assert law(1e7) == pytest.approx(5.0 * 1e7 ** -0.1)
    assert str(law) == "L(N) = 5 * N^(-0.100)"


def test_fit_with_offset_recovers_the_constant():
    n = np.geomspace(1e3, 1e7, 8)
    law = fit_power_law(n, 3.0 * n ** -0.3 + 1.2, offset=True)
    assert law.c == pytest.approx(1.2, abs=1e-3)
    assert law.alpha == pytest.approx(0.3, rel=1e-2)
    plain = fit_power_law(n, 3.0 * n ** -0.3 + 1.2)
    assert plain.alpha < 0.3, "without the constant the fitted exponent is too small"


def test_fit_is_least_squares_in_log_space():
    rng = np.random.default_rng(0)
    loss = 4.0 * N ** -0.2 * np.exp(rng.normal(0, 0.05, N.size))
    law = fit_power_law(N, loss)
    slope, intercept = np.polyfit(np.log(N), np.log(loss), 1)
    assert law.alpha == pytest.approx(-slope) and law.a == pytest.approx(math.exp(intercept))


@pytest.mark.parametrize("n, loss, offset, message", [
    ([1, 2], [1.0], False, r"`n` and `loss` have to be 1-D and of the same length"),
    ([1], [1.0], False, r"needs at least 2 points, got 1"),
    ([1, 2], [1.0, 0.5], True, r"with an offset needs at least 3 points, got 2"),
    ([0, 2], [1.0, 0.5], False, r"`n` has to hold positive numbers"),
    ([1, 2], [1.0, -0.5], False, r"`loss` has to hold positive numbers"),
])
def test_fit_rejects_bad_input(n, loss, offset, message):
    with pytest.raises(ValueError, match=message):
        fit_power_law(n, loss, offset=offset)


def test_heads_and_learning_rate_rules():
    assert [heads_for(c) for c in (8, 16, 24, 32, 48, 64, 256)] == [1, 1, 2, 2, 3, 4, 16]
    assert all(c % heads_for(c) == 0 for c in range(1, 300))
    assert learning_rate(1e-2, 32, 16) == 1e-2 and learning_rate(1e-2, 32, 128) == pytest.approx(2.5e-3)
    with pytest.raises(ValueError, match=r"`n_embd` \(=0\) has to be a positive integer"):
        heads_for(0)


@pytest.fixture(scope="module")
def corpus():
    return CharCorpus(pydoc_text()[:60_000])


def test_experiment_trains_each_size_on_the_same_tokens(corpus):
    runs = run_scaling_experiment(corpus, sizes=[(1, 8), (1, 32)], steps=30, batch_size=8, block_size=16,
                                  warmup_steps=3, val_windows=16, device="cpu")
    assert [r.n_embd for r in runs] == [8, 32]
    assert runs[0].tokens == runs[1].tokens == 30 * 8 * 16
    assert runs[0].non_embedding_parameters < runs[1].non_embedding_parameters < runs[1].parameters
    assert all(r.val_loss < math.log(corpus.vocab_size) for r in runs), "both models learn something"
    assert runs[1].val_loss < runs[0].val_loss, "the larger model learns more from the same tokens"
    again = run_scaling_experiment(corpus, sizes=[(1, 8)], steps=30, batch_size=8, block_size=16,
                                   warmup_steps=3, val_windows=16, device="cpu")
    assert again[0].val_loss == pytest.approx(runs[0].val_loss, abs=1e-6), "seeded: repeatable"


def test_experiment_rejects_bad_sizes(corpus):
    with pytest.raises(ValueError, match=r"`sizes` has to hold \(n_layer, n_embd\) pairs of positive integers, got 8"):
        run_scaling_experiment(corpus, sizes=[8])
    with pytest.raises(ValueError, match=r"`sizes` is empty"):
        run_scaling_experiment(corpus, sizes=[])


def test_non_embedding_parameters(make_gpt, tiny_config):
    model = make_gpt(tiny_config)
    counts = model.parameter_counts()
    assert non_embedding_parameters(model) == counts["attention"] + counts["MLP"] + counts["LayerNorm"]


def test_shipped_results_load_and_follow_a_power_law():
    settings, runs = load_scaling_results()
    assert len(runs) >= 4 and len({r.tokens for r in runs}) == 1, "4+ sizes, the same tokens each"
    n = [r.non_embedding_parameters for r in runs]
    loss = [r.val_loss for r in runs]
    assert n == sorted(n) and loss == sorted(loss, reverse=True), "bigger models, lower loss"
    law = fit_power_law(n, loss)
    assert 0.01 < law.alpha < 0.5
    assert settings["steps"] * settings["batch_size"] * settings["block_size"] == runs[0].tokens
    assert SCALING_RESULTS_PATH.is_file()


def test_command_line_writes_results(tmp_path, capsys):
    out = tmp_path / "results.json"
    main(["--sizes", "1x8", "1x16", "--steps", "5", "--batch-size", "4", "--block-size", "8",
          "--val-windows", "4", "--warmup-steps", "1", "--out", str(out)])
    data = json.loads(out.read_text())
    assert [r["n_embd"] for r in data["runs"]] == [8, 16]
    assert data["settings"]["steps"] == 5 and data["settings"]["processes"] == 1
    assert "wrote" in capsys.readouterr().out
    assert PowerLaw(2.0, 0.5)(4.0) == pytest.approx(1.0)


def test_command_line_runs_unchanged_under_torchrun(tmp_path):
    """Two gloo processes give the one-process results (the script itself is not changed)."""
    import subprocess
    import sys

    args = ["--sizes", "1x8", "--steps", "6", "--batch-size", "4", "--block-size", "8",
            "--val-windows", "4", "--warmup-steps", "1"]
    results = {}
    for procs in (1, 2):
        out = tmp_path / f"{procs}.json"
        launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={procs}"]
        done = subprocess.run(launcher + ["-m", "llm_book.scaling", *args, "--out", str(out)],
                              capture_output=True, text=True, timeout=300,
                              env={**__import__("os").environ, "OMP_NUM_THREADS": "1"})
        assert done.returncode == 0, done.stderr[-3000:]
        results[procs] = json.loads(out.read_text())
    assert results[2]["settings"]["processes"] == 2
    one, two = results[1]["runs"][0], results[2]["runs"][0]
    assert two["val_loss"] == pytest.approx(one["val_loss"], abs=1e-4)
    assert two["train_loss"] == pytest.approx(one["train_loss"], abs=1e-4)


def test_threads_are_restored(corpus):
    import torch

    before = torch.get_num_threads()
    run_scaling_experiment(corpus, sizes=[(1, 8)], steps=2, batch_size=2, block_size=8, warmup_steps=1,
                           val_windows=2, device="cpu", threads=1)
    assert torch.get_num_threads() == before
    with pytest.raises(ValueError, match=r"`threads` \(=0\) has to be a positive integer or None"):
        run_scaling_experiment(corpus, sizes=[(1, 8)], threads=0)
