"""`llm_book.training.train` under PyTorch's own launcher: two CPU processes (gloo) follow the
loss curve of one process trained on the same global batch."""

import json
import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent('''
    import json, sys
    import torch
    from llm_book import set_seed
    from llm_book.model import GPT, GPTConfig
    from llm_book.training import distributed_context, train

    torch.set_num_threads(1)
    set_seed(0)
    model = GPT(GPTConfig(vocab_size=13, block_size=8, n_layer=2, n_head=2, n_embd=16))
    # Learnable sequences: counting upwards mod 13 from a random start.
    starts = torch.randint(0, 13, (30, 8, 1), generator=torch.Generator().manual_seed(1))
    data = (starts + torch.arange(9)) % 13

    def get_batch(step):  # the same global batch of 8 sequences in every process
        x = data[step]
        return x[:, :-1], x[:, 1:]

    history = train(model, get_batch, steps=30, lr=1e-2, warmup_steps=5, device="cpu")
    rank, world_size = distributed_context()
    if rank == 0:
        json.dump({"world_size": world_size, "loss": history.loss}, open(sys.argv[1], "w"))
    # Leave the process group before exit: a gloo group torn down by the interpreter's exit can
    # abort a worker ("terminate called without an active exception"), as seen once in CI.
    if torch.distributed.is_initialized():
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()
''')

# Two processes sum their gradients in a different order than one process does,
# so the curves agree to float32 rounding, not bit for bit.
TOLERANCE = 1e-4


def run(cmd, out):
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    return json.loads(out.read_text())


def test_two_processes_match_one_process(tmp_path):
    script = tmp_path / "train_small.py"
    script.write_text(SCRIPT)
    single = run([sys.executable, str(script), str(tmp_path / "one.json")], tmp_path / "one.json")
    double = run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                  str(script), str(tmp_path / "two.json")], tmp_path / "two.json")
    assert single["world_size"] == 1 and double["world_size"] == 2
    assert len(single["loss"]) == len(double["loss"]) == 30
    gaps = [abs(a - b) for a, b in zip(single["loss"], double["loss"])]
    assert max(gaps) < TOLERANCE, f"largest gap {max(gaps):.2e} at step {gaps.index(max(gaps))}"
    assert single["loss"][-1] < single["loss"][0] - 0.1, "the model should learn something"


def test_shard_batch_splits_rows_and_checks_the_size():
    import torch

    from llm_book.training import shard_batch

    x = torch.arange(12).reshape(6, 2)
    a, _ = shard_batch(x, x, 0, 2)
    b, _ = shard_batch(x, x, 1, 2)
    assert torch.equal(torch.cat([a, b]).sort(0).values, x)
    assert torch.equal(a[:, 0], torch.tensor([0, 4, 8]))
    with pytest.raises(ValueError, match=r"batch size \(6\) has to be a multiple of the number of processes \(4\)"):
        shard_batch(x, x, 0, 4)
