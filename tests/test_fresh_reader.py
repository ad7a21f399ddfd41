"""A fresh reader: a new virtual environment with only what Colab ships, plus the package
installed the way the Colab setup cell installs it, runs a chapter top to bottom.

Colab provides torch, numpy, matplotlib, ipywidgets and ipykernel; the setup cell adds
`llm-book[hf]` from the repository.  Here the package comes from this checkout instead of
the git URL (same install path: a non-editable pip install), and Chapter 4, which uses the
shipped checkpoint, MiniLM and bertviz, must run with no other step.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHAPTER = ROOT / "book" / "04_mathematics.ipynb"
COLAB_DEFAULTS = ["torch==2.13.0", "numpy", "matplotlib", "ipywidgets", "ipykernel"]


def run(cmd, **kw):
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=900, **kw)
    assert result.returncode == 0, f"{cmd}\n{result.stdout[-2000:]}\n{result.stderr[-4000:]}"
    return result


@pytest.mark.skipif(os.environ.get("LLM_BOOK_SKIP_FRESH_READER") == "1",
                    reason="LLM_BOOK_SKIP_FRESH_READER=1")
def test_chapter_runs_in_a_colab_like_environment(tmp_path):
    venv = tmp_path / "colab"
    run([sys.executable, "-m", "venv", str(venv)])
    python = str(venv / "bin" / "python")
    pip = [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    run(pip + COLAB_DEFAULTS)
    # What the setup cell does in Colab, with this checkout in place of the git URL.
    run(pip + [f"llm-book[hf] @ {ROOT.as_uri()}"])
    run(pip + ["nbclient"])  # the harness that runs the notebook, not a dependency of the book
    script = (
        "import sys, nbformat\n"
        "from nbclient import NotebookClient\n"
        "nb = nbformat.read(sys.argv[1], as_version=4)\n"
        "NotebookClient(nb, timeout=600, kernel_name='python3',"
        " resources={'metadata': {'path': sys.argv[2]}}).execute()\n"
        "errors = [o for c in nb.cells if c.cell_type == 'code' for o in c.outputs"
        " if o.output_type == 'error']\n"
        "assert not errors, errors\n"
        "import llm_book; print('llm_book from', llm_book.__file__)\n"
    )
    # Run from an empty folder, so the kernel cannot import llm_book from the checkout.
    workdir = tmp_path / "reader"
    workdir.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env['PATH']}"
    result = run([python, "-c", script, str(CHAPTER), str(workdir)], cwd=workdir, env=env)
    assert str(venv) in result.stdout, result.stdout
