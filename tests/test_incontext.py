"""llm_book.incontext: the key-value recall task, its exact optimum, held-out mappings, the accuracy."""

import math

import pytest
import torch

from llm_book.incontext import KEYS, VALUES, KeyValueTask, in_context_accuracy
from llm_book.model import GPT, GPTConfig


@pytest.fixture(scope="module")
def task():
    return KeyValueTask(n_pairs=6, held_out=50, seed=3)


def test_words_and_tokenizer(task):
    assert len(KEYS) == len(VALUES) == 8 and not set(KEYS) & set(VALUES)
    assert task.tokenizer.vocab == list(KEYS) + list(VALUES) + ["<eos>"]
    assert task.chance == 1 / 8


def test_optimal_accuracy_is_the_formula(task):
    assert task.optimal_accuracy(0) == task.chance
    assert task.optimal_accuracy(1) == pytest.approx(1 / 8 + 7 / 8 * 1 / 8)
    for n in (2, 5, 15):
        p = 1 - (7 / 8) ** n
        assert task.optimal_accuracy(n) == pytest.approx(p + (1 - p) / 8)
    small = KeyValueTask(keys=("cat", "dog"), values=("mat", "sofa", "box"), held_out=1)
    assert small.optimal_accuracy(1) == pytest.approx(0.5 + 0.5 / 3)


def test_optimal_accuracy_matches_a_simulation(task):
    """The rule "answer the shown value, else guess" scores the formula on the task's own queries."""
    prompts, answers, shown = task.eval_queries(4, n=20000, seed=5)
    assert sum(shown) / len(shown) == pytest.approx(1 - (7 / 8) ** 4, abs=0.01)


def test_episode(task):
    g = torch.Generator().manual_seed(0)
    mapping = task.random_mapping(g)
    words = task.episode(10, g, mapping=mapping)
    assert words[0] == "<eos>" and len(words) == 21
    for k, v in zip(words[1::2], words[2::2]):
        assert k in KEYS and mapping[k] == v
    assert len(task.episode(0, g)) == 1


def test_training_batch(task):
    g = torch.Generator().manual_seed(1)
    idx, targets = task(32, g)
    assert idx.shape == targets.shape == (32, 12)
    full = torch.cat([idx, targets[:, -1:]], dim=1)            # the whole episode: the last target is a value
    assert (targets[:, 0::2] == -100).all()                     # the next token is a key: not scored
    assert torch.equal(targets[:, 1::2], full[:, 2::2])         # the next token is a value: scored
    for row in full:
        words = task.tokenizer.decode(row)
        assert words[0] == "<eos>"
        assert all(w in KEYS for w in words[1::2]) and all(w in VALUES for w in words[2::2])
        mapping = {}
        for k, v in zip(words[1::2], words[2::2]):
            assert mapping.setdefault(k, v) == v                # one mapping per row
    idx2, targets2 = task(32, torch.Generator().manual_seed(1))
    assert torch.equal(idx, idx2) and torch.equal(targets, targets2)


def test_mappings_differ_between_rows(task):
    idx, targets = task(64, torch.Generator().manual_seed(2))
    assert len({tuple(r.tolist()) for r in idx}) == 64


def test_training_never_draws_a_held_out_mapping():
    # a tiny space (2 keys, 2 values: 4 mappings) with 2 held out: the sampler must avoid them all
    task = KeyValueTask(keys=("cat", "dog"), values=("mat", "sofa"), n_pairs=8, held_out=2, seed=0)
    held = {tuple(m.tolist()) for m in task.held_out_mappings}
    assert len(held) == 2
    g = torch.Generator().manual_seed(0)
    for _ in range(20):
        m = task._training_mappings(256, g)
        assert not task.is_held_out(m).any()
        assert not {tuple(r.tolist()) for r in m} & held
    assert task.is_held_out(task.held_out_mappings).all()
    for _ in range(20):
        mapping = task.random_mapping(g)
        assert (task.values.index(mapping["cat"]), task.values.index(mapping["dog"])) not in held


def test_eval_queries_answers_are_right(task):
    prompts, answers, shown = task.eval_queries(5, n=300, seed=7)
    held = {tuple(m.tolist()) for m in task.held_out_mappings}
    assert len(prompts) == len(answers) == len(shown) == 300
    for prompt, answer, was_shown in zip(prompts, answers, shown):
        assert len(prompt) == 12 and prompt[0] == "<eos>"
        query = prompt[-1]
        pairs = dict(zip(prompt[1:-1:2], prompt[2:-1:2]))
        assert was_shown == (query in pairs)
        if was_shown:
            assert pairs[query] == answer                       # recomputed from the prompt
    assert prompts == task.eval_queries(5, n=300, seed=7)[0]
    for prompt, answer in zip(prompts, answers):                # every query uses a held-out mapping
        pairs = list(zip(prompt[1:-1:2], prompt[2:-1:2])) + [(prompt[-1], answer)]
        assert any(all(task.values[m[task.keys.index(k)]] == v for k, v in pairs) for m in held)


def test_held_out_mappings_are_fixed_by_the_seed():
    a, b = KeyValueTask(held_out=20, seed=1), KeyValueTask(held_out=20, seed=1)
    assert torch.equal(a.held_out_mappings, b.held_out_mappings)
    assert not torch.equal(a.held_out_mappings, KeyValueTask(held_out=20, seed=2).held_out_mappings)
    assert len({tuple(m.tolist()) for m in a.held_out_mappings}) == 20


def test_arguments_are_checked():
    with pytest.raises(ValueError, match=r"`keys` and `values` share the words \['cat'\]"):
        KeyValueTask(keys=("cat", "dog"), values=("cat", "mat"))
    with pytest.raises(ValueError, match="`keys` .* has duplicate words"):
        KeyValueTask(keys=("cat", "cat"))
    with pytest.raises(TypeError, match="`values` has to be a sequence of words"):
        KeyValueTask(values="mat sofa")
    with pytest.raises(ValueError, match=r"`n_pairs` \(=0\) has to be an integer >= 1"):
        KeyValueTask(n_pairs=0)
    with pytest.raises(ValueError, match=r"`held_out` \(=3\) has to be an integer from 0 to half the 4"):
        KeyValueTask(keys=("cat", "dog"), values=("mat", "sofa"), held_out=3)
    task = KeyValueTask(held_out=5)
    with pytest.raises(ValueError, match=r"`n_examples` \(=-1\)"):
        task.optimal_accuracy(-1)
    with pytest.raises(ValueError, match=r"`n` \(=0\) has to be an integer >= 1"):
        task.eval_queries(3, n=0)
    with pytest.raises(ValueError, match="`mapping` has to be a dict from every key"):
        task.episode(3, mapping={"cat": "mat"})
    with pytest.raises(ValueError, match="no held-out mappings"):
        KeyValueTask(held_out=0).eval_queries(2)


class Oracle(torch.nn.Module):
    """A fake model that answers each query from its prompt: the optimal strategy, made by hand."""

    def __init__(self, tokenizer, block_size=32):
        super().__init__()
        self.config = GPTConfig(vocab_size=len(tokenizer), block_size=block_size)
        self.tokenizer = tokenizer
        self.dummy = torch.nn.Parameter(torch.zeros(1))

    def forward(self, idx):
        logits = torch.zeros(idx.shape[0], idx.shape[1], self.config.vocab_size)
        for b, row in enumerate(idx.tolist()):
            pairs = dict(zip(row[1:-1:2], row[2:-1:2]))
            logits[b, -1, pairs.get(row[-1], self.tokenizer.token_to_id["mat"])] = 1.0
        return type("Out", (), {"logits": logits})()


def test_in_context_accuracy_of_the_optimal_strategy(task):
    oracle = Oracle(task.tokenizer)
    acc = in_context_accuracy(oracle, task.tokenizer, task, 6, n=2000, seed=0)
    assert acc["shown"] == 1.0
    assert acc["n_shown"] + acc["n_not_shown"] == 2000
    assert abs(acc["not_shown"] - 1 / 8) < 0.05                # held-out values: "mat" is right 1 time in 8
    assert abs(acc["all"] - task.optimal_accuracy(6)) < 0.03
    zero = in_context_accuracy(oracle, task.tokenizer, task, 0, n=100)
    assert math.isnan(zero["shown"]) and zero["n_shown"] == 0


def test_in_context_accuracy_checks_its_arguments(task):
    model = GPT(GPTConfig(vocab_size=len(task.tokenizer), block_size=8, n_layer=1, n_head=1, n_embd=8))
    with pytest.raises(ValueError, match=r"`n_examples` \(=4\) makes prompts of 10 tokens"):
        in_context_accuracy(model, task.tokenizer, task, 4)
    assert set(in_context_accuracy(model, task.tokenizer, task, 3, n=10)) >= {"all", "shown", "not_shown"}
    wrong = GPT(GPTConfig(vocab_size=5, block_size=8, n_layer=1, n_head=1, n_embd=8))
    with pytest.raises(ValueError, match="the tokenizer has 17 words"):
        in_context_accuracy(wrong, task.tokenizer, task, 2)
    with pytest.raises(TypeError, match="`task` has to be a KeyValueTask"):
        in_context_accuracy(model, task.tokenizer, "task", 2)


def test_the_toy_gpt_can_be_measured(task):
    """The toy GPT of Chapter 5 knows every key and value word: the same episodes fit its tokenizer."""
    from llm_book.pretrained import load_toy_gpt

    model, tokenizer = load_toy_gpt()
    acc = in_context_accuracy(model, tokenizer, task, 7, n=50)
    assert 0.0 <= acc["all"] <= 1.0


def test_shipped_icl_gpt_loads_and_reads_its_context():
    """The shipped checkpoint: the SHA-256 checks, its tokenizer is the task's, and it learned the task."""
    from llm_book.incontext import ICL_GPT_RECIPE
    from llm_book.pretrained import ICL_GPT_PATH, ICL_GPT_SHA256, history_path, load_icl_gpt, sha256

    assert sha256(ICL_GPT_PATH) == ICL_GPT_SHA256
    model, tokenizer = load_icl_gpt()
    task = KeyValueTask(n_pairs=ICL_GPT_RECIPE["n_pairs"], held_out=ICL_GPT_RECIPE["held_out"])
    assert tokenizer.vocab == task.tokenizer.vocab
    assert model.config.block_size == 2 * ICL_GPT_RECIPE["n_pairs"]
    acc = in_context_accuracy(model, tokenizer, task, 4, n=500, seed=11)
    assert acc["shown"] > 0.9 and abs(acc["all"] - task.optimal_accuracy(4)) < 0.08
    import json

    record = json.loads(history_path(ICL_GPT_PATH).read_text())
    assert record["sha256"] == ICL_GPT_SHA256 and len(record["eval_loss"]) == len(record["eval_steps"])


def test_train_icl_gpt_runs_and_records_the_accuracy():
    from llm_book.incontext import ICL_GPT_RECIPE, train_icl_gpt

    model, tokenizer, history = train_icl_gpt(steps=3)
    assert model.config.block_size == 2 * ICL_GPT_RECIPE["n_pairs"] and len(tokenizer) == 17
    assert len(history.loss) == 3 and history.eval_steps == [3]
    assert 0.0 <= history.eval_loss[0] <= 1.0                   # an accuracy, recorded by eval_fn
    with pytest.raises(ValueError, match=r"`steps` \(=0\)"):
        train_icl_gpt(steps=0)


def test_repeated_sequences_targets_are_exactly_the_repeats(task):
    from llm_book.incontext import RepeatedSequenceTask

    rep = RepeatedSequenceTask(task.tokenizer, min_period=3, max_period=12, block_size=32)
    idx, targets = rep(50, torch.Generator().manual_seed(0))
    assert idx.shape == targets.shape == (50, 32) and idx.dtype == torch.long
    assert not (idx == task.tokenizer.eos_id).any()              # <eos> is never drawn
    periods = set()
    for row, tgt in zip(idx, targets):
        full = torch.cat([row, tgt[-1:]])                       # the 33 tokens of the row
        p = int((tgt == -100).sum()) + 1                        # -100 while the next token is in period 1
        periods.add(p)
        assert torch.equal(tgt[:p - 1], torch.full((p - 1,), -100))
        assert torch.equal(tgt[p - 1:], full[p:])               # every later target: the next token
        assert torch.equal(full[p:], full[:-p])                 # which is the token p places back
    assert min(periods) >= 3 and max(periods) <= 12 and len(periods) > 5


def test_repeated_sequences_are_seeded_and_check_their_arguments(task):
    from llm_book.incontext import RepeatedSequenceTask

    rep = RepeatedSequenceTask(task.tokenizer, 2, 2, block_size=6)
    a = rep(3, torch.Generator().manual_seed(1))
    b = rep(3, torch.Generator().manual_seed(1))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert torch.equal(a[1][0], torch.cat([torch.tensor([-100]), a[0][0, 2:], a[0][0, :1]]))
    assert "periods 2..2" in repr(rep)
    with pytest.raises(TypeError, match="`tokenizer` has to be a WordTokenizer"):
        RepeatedSequenceTask("abc")
    with pytest.raises(ValueError, match=r"`block_size` \(=1\)"):
        RepeatedSequenceTask(task.tokenizer, 1, 1, block_size=1)
    with pytest.raises(ValueError, match=r"`min_period` \(=0\) has to be an integer from 1 to block_size"):
        RepeatedSequenceTask(task.tokenizer, 0, 3)
    with pytest.raises(ValueError, match=r"`max_period` \(=2\) has to be an integer from min_period \(3\)"):
        RepeatedSequenceTask(task.tokenizer, 3, 2)
    with pytest.raises(ValueError, match=r"`max_period` \(=40\)"):
        RepeatedSequenceTask(task.tokenizer, 3, 40, block_size=32)
    with pytest.raises(ValueError, match=r"`batch_size` \(=0\)"):
        rep(0)


def test_repeat_accuracy_of_a_perfect_copier(task):
    from llm_book.incontext import RepeatedSequenceTask, repeat_accuracy

    rep = RepeatedSequenceTask(task.tokenizer, 3, 3, block_size=8)
    idx, targets = rep(4, torch.Generator().manual_seed(2))

    class Copier(torch.nn.Module):                                # predicts the token 2 places back
        def forward(self, x):
            logits = torch.zeros(*x.shape, len(task.tokenizer))
            logits[:, 2:].scatter_(-1, x[:, :-2, None], 1.0)
            return type("Out", (), {"logits": logits})()

    copier = Copier()
    copier.dummy = torch.nn.Parameter(torch.zeros(1))
    assert repeat_accuracy(copier, idx, targets) == 1.0


def test_train_induction_gpt_runs_and_records_both_accuracies():
    from llm_book.incontext import INDUCTION_GPT_RECIPE, train_induction_gpt

    model, tokenizer, history = train_induction_gpt(steps=3)
    assert model.config.block_size == INDUCTION_GPT_RECIPE["block_size"] and len(tokenizer) == 17
    assert history.eval_steps == [3] and 0.0 <= history.eval_loss[0] <= 1.0
    assert len(history.results["kv_shown"]) == 1 and 0.0 <= history.results["kv_shown"][0] <= 1.0
    with pytest.raises(ValueError, match=r"`steps` \(=0\)"):
        train_induction_gpt(steps=0)


def test_shipped_induction_gpt_has_the_circuit_and_reads_key_value_prompts():
    """The shipped checkpoint: SHA-256, the key-value tokenizer, the two kinds of head, in-context accuracy."""
    import json

    from llm_book.interpret import induction_score, previous_token_score
    from llm_book.pretrained import INDUCTION_GPT_PATH, INDUCTION_GPT_SHA256, history_path, load_induction_gpt, sha256

    assert sha256(INDUCTION_GPT_PATH) == INDUCTION_GPT_SHA256
    model, tokenizer = load_induction_gpt()
    task = KeyValueTask(n_pairs=8)
    assert tokenizer.vocab == task.tokenizer.vocab and model.config.block_size == 32
    seq = torch.randint(16, (20, 10), generator=torch.Generator().manual_seed(0)).repeat(1, 4)[:, :32]
    with torch.no_grad():
        att = model(seq, output_attentions=True).attentions
    assert previous_token_score(att[0]).max() > 0.6 and induction_score(att[1], 10).min() > 0.3
    acc = in_context_accuracy(model, tokenizer, task, 4, n=500, seed=11)
    assert acc["shown"] > 0.8 and abs(acc["not_shown"] - 0.125) < 0.06
    record = json.loads(history_path(INDUCTION_GPT_PATH).read_text())
    assert record["sha256"] == INDUCTION_GPT_SHA256 and len(record["results"]["kv_shown"]) == len(record["eval_steps"])
