"""DPO: reply log-probabilities, the loss against hand computations, preference pairs, KL, the loop."""

from __future__ import annotations

import copy
import math

import pytest
import torch

from llm_book.model import GPT, GPTConfig
from llm_book.preference import (DPOHistory, DPOLoss, PreferencePair, dpo_loss, kl_to_reference,
                                 preference_batches, sequence_logprobs, train_dpo)
from llm_book.tokenizer import WordTokenizer


def gpt(vocab_size: int = 9, block_size: int = 24, seed: int = 0) -> GPT:
    torch.manual_seed(seed)
    return GPT(GPTConfig(vocab_size=vocab_size, block_size=block_size, n_layer=1, n_head=2, n_embd=16)).eval()


# ----------------------------------------------------------------------------
# sequence_logprobs
# ----------------------------------------------------------------------------
def test_sequence_logprobs_sums_the_scored_tokens_only():
    model = gpt()
    idx = torch.tensor([[1, 2, 3, 4, 5], [5, 4, 3, 2, 1]])
    targets = torch.tensor([[-100, -100, 4, 5, 6], [-100, 3, -100, 1, -100]])
    got = sequence_logprobs(model, idx, targets)
    with torch.no_grad():
        log_p = torch.log_softmax(model(idx).logits, dim=-1)
    expected = torch.stack([log_p[0, 2, 4] + log_p[0, 3, 5] + log_p[0, 4, 6],
                            log_p[1, 1, 3] + log_p[1, 3, 1]])
    assert got.shape == (2,) and torch.allclose(got, expected, atol=1e-5)
    assert (got < 0).all() and got.requires_grad  # gradients flow for the policy
    # each row alone gives the same number (batch > 1 changes nothing)
    assert torch.allclose(sequence_logprobs(model, idx[1:], targets[1:]), got[1:], atol=1e-5)


def test_sequence_logprobs_errors():
    model = gpt()
    idx = torch.tensor([[1, 2, 3]])
    with pytest.raises(ValueError, match=r"`targets` \(1, 2\) has to have the shape of `idx` \(1, 3\)"):
        sequence_logprobs(model, idx, torch.tensor([[1, 2]]))
    with pytest.raises(ValueError, match=r"row 1 of `targets` scores no token \(all -100\)"):
        sequence_logprobs(model, torch.tensor([[1, 2], [3, 4]]), torch.tensor([[2, 3], [-100, -100]]))
    with pytest.raises(ValueError, match=r"`idx` has to be a \(batch, T\) tensor of token ids, got \(3,\)"):
        sequence_logprobs(model, torch.tensor([1, 2, 3]), torch.tensor([1, 2, 3]))
    with pytest.raises(TypeError, match=r"`targets` has to hold integer token ids, got dtype torch.float32"):
        sequence_logprobs(model, idx, torch.tensor([[1.0, 2.0, 3.0]]))
    with pytest.raises(ValueError, match=r"`targets` holds id 9 but the model knows only 9 tokens"):
        sequence_logprobs(model, idx, torch.tensor([[1, 2, 9]]))


# ----------------------------------------------------------------------------
# dpo_loss
# ----------------------------------------------------------------------------
def test_dpo_loss_equals_a_hand_computation():
    # pair 1: log pi/pi_ref = -1 - (-2) = 1 for the chosen, -3 - (-2) = -1 for the rejected;
    #         beta (1 - (-1)) = 0.5 * 2 = 1, loss -log sigmoid(1) = log(1 + e^-1)
    # pair 2: chosen ratio -2 - (-2) = 0, rejected ratio -1 - (-2) = 1; beta (0 - 1) = -0.5,
    #         loss -log sigmoid(-0.5) = log(1 + e^0.5)
    out = dpo_loss(torch.tensor([-1.0, -2.0]), torch.tensor([-3.0, -1.0]),
                   torch.tensor([-2.0, -2.0]), torch.tensor([-2.0, -2.0]), beta=0.5)
    assert isinstance(out, DPOLoss) and out.loss.shape == ()
    expected = (math.log(1 + math.exp(-1)) + math.log(1 + math.exp(0.5))) / 2   # 0.64367
    assert out.loss.item() == pytest.approx(expected, abs=1e-6)
    assert out.chosen_rewards.tolist() == pytest.approx([0.5, 0.0])
    assert out.rejected_rewards.tolist() == pytest.approx([-0.5, 0.5])
    assert out.margin == pytest.approx((1.0 - 0.5) / 2)     # margins 1 and -0.5
    assert out.accuracy == 0.5


def test_policy_equal_to_reference_gives_zero_rewards_and_log_2():
    logp = torch.tensor([-3.2, -0.7, -11.0])
    rejected = torch.tensor([-1.5, -4.0, -2.0])
    for beta in (0.01, 0.1, 5.0):
        out = dpo_loss(logp, rejected, logp.clone(), rejected.clone(), beta=beta)
        assert out.loss.item() == pytest.approx(math.log(2), abs=1e-6)
        assert torch.equal(out.chosen_rewards, torch.zeros(3))
        assert torch.equal(out.rejected_rewards, torch.zeros(3))


def test_the_gradient_raises_the_chosen_and_lowers_the_rejected():
    chosen = torch.tensor([-2.0, -1.0], requires_grad=True)
    rejected = torch.tensor([-2.0, -4.0], requires_grad=True)
    ref_chosen = torch.tensor([-2.0, -2.0], requires_grad=True)
    ref_rejected = torch.tensor([-2.0, -2.0], requires_grad=True)
    dpo_loss(chosen, rejected, ref_chosen, ref_rejected, beta=0.1).loss.backward()
    assert (chosen.grad < 0).all()     # gradient descent raises log pi(chosen)
    assert (rejected.grad > 0).all()   # ... and lowers log pi(rejected)
    assert ref_chosen.grad is None and ref_rejected.grad is None  # the reference is detached
    # d loss / d chosen = -beta sigmoid(-z) / batch; pair 1 has z = 0: -0.1 * 0.5 / 2
    assert chosen.grad[0].item() == pytest.approx(-0.025, abs=1e-7)
    assert torch.allclose(chosen.grad, -rejected.grad)


def test_the_reference_model_gets_no_gradient():
    policy, reference = gpt(seed=0), gpt(seed=1)
    idx = torch.tensor([[1, 2, 3, 4], [4, 3, 2, 1]])
    chosen_t = torch.tensor([[-100, 3, 4, 5], [-100, -100, 1, 0]])
    rejected_t = torch.tensor([[-100, 6, 6, 6], [-100, -100, 7, 7]])
    out = dpo_loss(sequence_logprobs(policy, idx, chosen_t), sequence_logprobs(policy, idx, rejected_t),
                   sequence_logprobs(reference, idx, chosen_t),     # computed WITH grad on purpose
                   sequence_logprobs(reference, idx, rejected_t))
    out.loss.backward()
    assert all(p.grad is None for p in reference.parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in policy.parameters())
    assert not out.chosen_rewards.requires_grad and not out.rejected_rewards.requires_grad


def test_dpo_loss_errors():
    one = torch.tensor([-1.0])
    for beta in (0, -0.1, float("nan"), float("inf")):
        with pytest.raises(ValueError, match=r"`beta` \(=.*\) has to be a positive, finite float"):
            dpo_loss(one, one, one, one, beta=beta)
    with pytest.raises(TypeError, match=r"`beta` \(=True\) has to be a positive, finite float"):
        dpo_loss(one, one, one, one, beta=True)
    with pytest.raises(ValueError, match=r"`policy_chosen` is \(1,\), `reference_rejected` is \(2,\)"):
        dpo_loss(one, one, one, torch.tensor([-1.0, -2.0]))
    with pytest.raises(ValueError, match=r"have to be \(batch,\) tensors of one shape"):
        dpo_loss(torch.tensor(-1.0), torch.tensor(-1.0), torch.tensor(-1.0), torch.tensor(-1.0))
    with pytest.raises(TypeError, match=r"`policy_rejected` has to be a float tensor of log-probabilities, "
                                        r"got dtype torch.int64"):
        dpo_loss(one, torch.tensor([-1]), one, one)
    with pytest.raises(TypeError, match=r"`reference_chosen` has to be a float tensor .* got list"):
        dpo_loss(one, one, [-1.0], one)
    with pytest.raises(ValueError, match=r"`reference_chosen` holds nan or inf"):
        dpo_loss(one, one, torch.tensor([-math.inf]), one)


# ----------------------------------------------------------------------------
# PreferencePair and preference_batches
# ----------------------------------------------------------------------------
USER = [{"role": "user", "content": "The cat sat . Where did the dog sit ?"}]


def test_preference_pair_copies_and_freezes():
    messages = [dict(m) for m in USER]
    pair = PreferencePair(messages, chosen="it does not say", rejected="on the mat")
    messages[0]["content"] = "changed"
    assert pair.messages[0]["content"] == USER[0]["content"]   # a copy
    with pytest.raises(AttributeError):
        pair.chosen = "x"
    chosen, rejected = pair.conversations()
    assert chosen == USER + [{"role": "assistant", "content": "it does not say"}]
    assert rejected[-1] == {"role": "assistant", "content": "on the mat"}


def test_preference_pair_errors():
    with pytest.raises(ValueError, match=r"a preference pair needs two different answers; chosen and "
                                         r"rejected are both 'on the mat'"):
        PreferencePair(USER, "on the mat", "on the mat")
    with pytest.raises(ValueError, match=r"has to end with the user's turn .* the last message is 'assistant'"):
        PreferencePair(USER + [{"role": "assistant", "content": "on the mat"}], "a", "b")
    with pytest.raises(ValueError, match=r"`chosen` is empty; a reply needs at least one word"):
        PreferencePair(USER, " ", "on the mat")
    with pytest.raises(ValueError, match=r"`rejected` is empty"):
        PreferencePair(USER, "on the mat", "")
    with pytest.raises(TypeError, match=r"`rejected` has to be a string .* got list"):
        PreferencePair(USER, "on the mat", ["on"])
    with pytest.raises(ValueError, match=r"`messages` has to be a non-empty list .* got str"):
        PreferencePair("hello", "a", "b")
    with pytest.raises(ValueError, match=r"`messages` has to be a non-empty list .* got list"):
        PreferencePair([], "a", "b")
    with pytest.raises(ValueError, match=r"message 0 has to be a dict with exactly 'role' and 'content'"):
        PreferencePair([{"role": "user"}], "a", "b")


@pytest.fixture(scope="module")
def chat_setup():
    from llm_book.chat import chat_tokenizer

    words = ["The", "cat", "dog", "sat", "on", "the", "mat", "rug", ".", "?", "Where", "did", "sit",
             "it", "does", "not", "say", "<eos>"]
    tokenizer = chat_tokenizer(WordTokenizer(words))
    pairs = [PreferencePair(USER, "it does not say", "on the mat"),
             PreferencePair([{"role": "user", "content": "The dog sat on the rug . Where did the dog sit ?"}],
                            "on the rug", "it does not say"),
             PreferencePair([{"role": "user", "content": "The cat sat on the mat . Where did the cat sit ?"}],
                            "on the mat", "on the rug")]
    return tokenizer, pairs


def test_preference_batches_score_only_the_replies(chat_setup):
    from llm_book.chat import END_OF_TURN

    tokenizer, pairs = chat_setup
    (ci, ct), (ri, rt) = preference_batches(pairs, tokenizer)
    assert ci.shape == ct.shape == ri.shape == rt.shape and ci.shape[0] == 3
    for p, targets in ((pairs[0].chosen, ct[0]), (pairs[0].rejected, rt[0]), (pairs[1].chosen, ct[1])):
        assert tokenizer.decode(targets[targets != -100].tolist()) == p.split() + [END_OF_TURN]
    (ci2, _), _ = preference_batches(pairs, tokenizer, pad_to=30)
    assert ci2.shape == (3, 29)


def test_preference_batches_errors(chat_setup):
    tokenizer, pairs = chat_setup
    with pytest.raises(ValueError, match=r"`pairs` has to be a non-empty list of PreferencePair, got list"):
        preference_batches([], tokenizer)
    with pytest.raises(ValueError, match=r"`pairs` has to be a non-empty list of PreferencePair, got PreferencePair"):
        preference_batches(pairs[0], tokenizer)
    with pytest.raises(TypeError, match=r"`pairs\[1\]` has to be a PreferencePair, got tuple"):
        preference_batches([pairs[0], ("a", "b")], tokenizer)


# ----------------------------------------------------------------------------
# kl_to_reference
# ----------------------------------------------------------------------------
def test_kl_is_zero_for_identical_models_and_positive_otherwise():
    model = gpt(seed=0)
    idx = torch.tensor([[1, 2, 3, 4], [4, 3, 2, 1]])
    targets = torch.tensor([[-100, 3, 4, 5], [-100, -100, 1, 0]])
    assert kl_to_reference(model, copy.deepcopy(model), idx, targets) == pytest.approx(0.0, abs=1e-12)
    assert kl_to_reference(model, gpt(seed=1), idx, targets) > 0


def test_kl_equals_a_hand_computation():
    policy, reference = gpt(seed=0), gpt(seed=1)
    with torch.no_grad():
        for p in policy.parameters():           # a sharper policy: a KL well away from 0
            p.mul_(3)
    idx = torch.tensor([[1, 2, 3, 4], [4, 3, 2, 1]])
    targets = torch.tensor([[-100, 3, 4, 5], [-100, -100, 1, -100]])
    with torch.no_grad():
        p = torch.softmax(policy(idx).logits.double(), dim=-1)
        q = torch.softmax(reference(idx).logits.double(), dim=-1)
    terms = []
    for b, t in [(0, 1), (0, 2), (0, 3), (1, 2)]:       # the four scored positions
        terms.append(sum(float(p[b, t, v] * math.log(p[b, t, v] / q[b, t, v])) for v in range(9)))
    expected = sum(terms) / 4
    assert expected > 0.01
    assert kl_to_reference(policy, reference, idx, targets) == pytest.approx(expected, rel=1e-9)
    assert kl_to_reference(policy, reference, idx, targets, batch_size=1) == pytest.approx(expected, rel=1e-9)


def test_kl_errors():
    model = gpt()
    idx, targets = torch.tensor([[1, 2]]), torch.tensor([[-100, 3]])
    with pytest.raises(ValueError, match=r"`policy` and `reference` have to share a vocabulary"):
        kl_to_reference(model, gpt(vocab_size=10), idx, targets)
    with pytest.raises(ValueError, match=r"row 0 of `targets` scores no token"):
        kl_to_reference(model, model, idx, torch.tensor([[-100, -100]]))
    with pytest.raises(ValueError, match=r"`batch_size` \(=0\) has to be a positive integer"):
        kl_to_reference(model, model, idx, targets, batch_size=0)


# ----------------------------------------------------------------------------
# train_dpo
# ----------------------------------------------------------------------------
def test_train_dpo_prefers_the_chosen_and_leaves_the_reference_alone(chat_setup):
    tokenizer, pairs = chat_setup
    reference = gpt(vocab_size=len(tokenizer), block_size=32, seed=0)
    before = {k: v.clone() for k, v in reference.state_dict().items()}
    policy = copy.deepcopy(reference)
    history = train_dpo(policy, reference, pairs, tokenizer, steps=30, beta=0.5, lr=3e-3, batch_size=4)
    assert isinstance(history, DPOHistory)
    assert all(len(getattr(history, k)) == 30 for k in ("loss", "chosen_reward", "rejected_reward",
                                                       "margin", "accuracy", "lr"))
    assert history.loss[0] == pytest.approx(math.log(2), abs=1e-5)   # the policy starts as the reference
    assert history.loss[-1] < 0.2 and history.margin[-1] > 1 and history.accuracy[-1] == 1.0
    for k, v in reference.state_dict().items():
        assert torch.equal(v, before[k]), k                            # never modified
    assert all(p.grad is None for p in reference.parameters())
    assert not reference.training and not policy.training
    # the policy now prefers every chosen reply by more than the reference did
    (ci, ct), (ri, rt) = preference_batches(pairs, tokenizer)
    with torch.no_grad():
        gained = (sequence_logprobs(policy, ci, ct) - sequence_logprobs(reference, ci, ct)
                  - sequence_logprobs(policy, ri, rt) + sequence_logprobs(reference, ri, rt))
    assert (gained > 0).all()
    record = history.to_record()
    assert set(record) >= {"loss", "margin", "accuracy", "lr", "results"}


def test_train_dpo_is_seeded_and_keeps_a_training_reference_in_its_mode(chat_setup):
    tokenizer, pairs = chat_setup
    reference = gpt(vocab_size=len(tokenizer), block_size=32, seed=0).train()
    runs = []
    for _ in range(2):
        policy = copy.deepcopy(reference)
        runs.append(train_dpo(policy, reference, pairs, tokenizer, steps=3, lr=1e-3, batch_size=2, seed=5).loss)
    assert runs[0] == runs[1] and reference.training


def test_train_dpo_errors(chat_setup):
    tokenizer, pairs = chat_setup
    reference = gpt(vocab_size=len(tokenizer), block_size=32)
    with pytest.raises(ValueError, match=r"`policy` and `reference` are the same object.*copy.deepcopy"):
        train_dpo(reference, reference, pairs, tokenizer, steps=1)
    policy = copy.deepcopy(reference)
    with pytest.raises(ValueError, match=r"`steps` \(=0\) has to be a positive integer"):
        train_dpo(policy, reference, pairs, tokenizer, steps=0)
    with pytest.raises(ValueError, match=r"`beta` \(=0\) has to be a positive, finite float"):
        train_dpo(policy, reference, pairs, tokenizer, steps=1, beta=0)
    with pytest.raises(ValueError, match=r"`lr` \(=-1\) has to be a positive, finite float"):
        train_dpo(policy, reference, pairs, tokenizer, steps=1, lr=-1)
    with pytest.raises(ValueError, match=r"`batch_size` \(=0\) has to be a positive integer"):
        train_dpo(policy, reference, pairs, tokenizer, steps=1, batch_size=0)
    with pytest.raises(TypeError, match=r"`reference` has to be a GPT \(a torch.nn.Module\), got str"):
        train_dpo(policy, "gpt", pairs, tokenizer, steps=1)
    short = gpt(vocab_size=len(tokenizer), block_size=8)
    with pytest.raises(ValueError, match=r"the longest conversation of `pairs` renders to \d+ tokens; the model "
                                         r"reads at most block_size = 8"):
        train_dpo(copy.deepcopy(short), short, pairs, tokenizer, steps=1)


def test_sft_weight_raises_the_chosen_replies(chat_setup):
    tokenizer, pairs = chat_setup
    reference = gpt(vocab_size=len(tokenizer), block_size=32, seed=0)
    (ci, ct), _ = preference_batches(pairs, tokenizer)
    chosen = {}
    for weight in (0.0, 1.0):
        policy = copy.deepcopy(reference)
        train_dpo(policy, reference, pairs, tokenizer, steps=20, beta=0.5, lr=3e-3, batch_size=4, sft_weight=weight)
        with torch.no_grad():
            chosen[weight] = sequence_logprobs(policy, ci, ct)
    assert (chosen[1.0] > chosen[0.0]).all()
    with pytest.raises(ValueError, match=r"`sft_weight` \(=-0.1\) has to be a finite float >= 0"):
        train_dpo(policy, reference, pairs, tokenizer, steps=1, sft_weight=-0.1)


# ----------------------------------------------------------------------------
# The experiment's data: refusal pairs (on-policy), anchor pairs, false refusals
