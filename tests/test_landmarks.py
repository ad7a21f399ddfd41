"""The landmark-model table: every number sourced, missing numbers said to be missing, 6ND right."""

import json

import pytest

from llm_book.landmarks import ARCHITECTURES, landmark, load_landmarks, training_flops


def test_table_has_the_articles_models_and_successors():
    names = {m.name for m in load_landmarks()}
    for needed in ("GPT", "BERT-base", "BERT-large", "GPT-2", "T5-11B", "GPT-3", "Switch-C",
                   "Chinchilla", "PaLM", "LLaMA-65B", "Llama 2 70B", "Llama 3.1 405B", "Mixtral 8x7B"):
        assert needed in names


def test_every_number_has_a_source_and_every_gap_says_why():
    models = load_landmarks()
    assert [m.year for m in models] == sorted(m.year for m in models), "rows are in order of year"
    for m in models:
        assert m.source("year") and not m.source("year").startswith("not")
        for field in ("architecture", "parameters", "training_tokens"):
            text = m.source(field)
            if getattr(m, field) is None:
                assert text.startswith(("not published", "not recorded")), (m.name, field)
            else:
                assert not text.startswith("not"), (m.name, field)
        for field in ("active_parameters", "reported_training_flops"):
            if getattr(m, field) is not None:
                assert not m.source(field).startswith("not"), (m.name, field)
        assert m.architecture is None or m.architecture in ARCHITECTURES


def test_all_four_architecture_types_and_unpublished_gpt4():
    assert {m.architecture for m in load_landmarks()} >= set(ARCHITECTURES)
    gpt4 = landmark("GPT-4")
    assert gpt4.parameters is None and gpt4.training_tokens is None and gpt4.architecture is None
    assert gpt4.source("parameters").startswith("not published")
    assert gpt4.estimated_training_flops is None


def test_ibid_is_spelled_out():
    gpt3 = landmark("GPT-3")
    assert gpt3.sources["parameters"].startswith("ibid.")
    assert gpt3.source("parameters").startswith(gpt3.sources["year"])
    assert "arXiv:2005.14165" in gpt3.source("parameters")
    with pytest.raises(ValueError, match=r"`name` \(='colour'\) has no source"):
        gpt3.source("colour")


def test_six_n_d_matches_the_reported_compute():
    # The rule of thumb against the two reported figures in the table.
    for name in ("GPT-3", "Llama 3.1 405B"):
        m = landmark(name)
        assert m.estimated_training_flops == pytest.approx(m.reported_training_flops, rel=0.01)
    assert training_flops(175e9, 300e9) == pytest.approx(3.15e23)


def test_mixture_of_experts_uses_active_parameters():
    m = landmark("DeepSeek-V3")
    assert m.compute_parameters == m.active_parameters < m.parameters
    assert m.estimated_training_flops == pytest.approx(6 * 37e9 * 14.8e12)


@pytest.mark.parametrize("bad", [0, -1.0, float("nan"), float("inf"), True, "1e9"])
def test_training_flops_rejects_bad_numbers(bad):
    with pytest.raises(ValueError, match=r"`parameters` \(=.*\) has to be a positive number"):
        training_flops(bad, 1e9)
    with pytest.raises(ValueError, match=r"`tokens` \(=.*\) has to be a positive number"):
        training_flops(1e9, bad)


def test_unknown_model_is_named():
    with pytest.raises(ValueError, match=r"`name` \(='GPT-5'\) is not in the table"):
        landmark("GPT-5")


def write_table(tmp_path, **changes):
    entry = {"name": "X", "organisation": "Y", "year": 2020, "architecture": "decoder-only",
             "parameters": 10, "active_parameters": None, "training_tokens": None,
             "reported_training_flops": None,
             "sources": {"year": "a paper", "architecture": "a paper", "parameters": "a paper",
                         "training_tokens": "not published"}}
    entry.update(changes)
    path = tmp_path / "table.json"
    path.write_text(json.dumps({"models": [entry]}))
    return path


def test_a_number_without_source_is_refused(tmp_path):
    assert load_landmarks(write_table(tmp_path))[0].parameters == 10
    path = write_table(tmp_path, training_tokens=5)
    with pytest.raises(ValueError, match=r"X: `training_tokens` \(=5\) has no source"):
        load_landmarks(path)


def test_a_gap_without_reason_is_refused(tmp_path):
    path = write_table(tmp_path, parameters=None)
    with pytest.raises(ValueError, match=r"X: `parameters` is missing; its source entry has to say"):
        load_landmarks(path)


def test_an_unknown_architecture_is_refused(tmp_path):
    path = write_table(tmp_path, architecture="recurrent")
    with pytest.raises(ValueError, match=r"X: architecture 'recurrent' is not one of"):
        load_landmarks(path)


def test_format_count():
    from llm_book.landmarks import format_count

    assert [format_count(v) for v in (117e6, 1542e6, 65.2e9, 1.4e12, 3.14e23, 950, None)] == \
        ["117M", "1.54B", "65.2B", "1.4T", "3.14e+23", "950", "not published"]
    assert format_count(None, missing="-") == "-"
    with pytest.raises(ValueError, match=r"`value` \(=-1\) has to be a non-negative number or None"):
        format_count(-1)


def test_every_model_has_a_sourced_release_month_and_the_table_is_in_date_order():
    models = load_landmarks()
    assert all(m.month is not None and m.source("month") for m in models)
    dates = [m.date for m in models]
    assert dates == sorted(dates)
    gpt = landmark("GPT")
    assert gpt.month == 6 and "June 2018" in gpt.source("month")
    assert 2018 < gpt.date < landmark("BERT-base").date < 2019


@pytest.mark.parametrize("month", [0, 13, 6.5, True])
def test_a_month_outside_1_to_12_is_refused(tmp_path, month):
    path = write_table(tmp_path, month=month)
    with pytest.raises(ValueError, match=r"X: `month` .* has to be a whole number from 1 to 12"):
        load_landmarks(path)


def test_a_month_without_source_is_refused_and_no_month_is_mid_year(tmp_path):
    with pytest.raises(ValueError, match=r"X: `month` \(=3\) has no source"):
        load_landmarks(write_table(tmp_path, month=3))
    assert load_landmarks(write_table(tmp_path))[0].date == 2020.5
