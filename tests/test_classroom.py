"""The student edition: stubs where solutions were, nothing else changed, checkers give hints."""

import contextlib
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from llm_book.classroom import has_solution, strip_solutions, student_edition

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"


@pytest.fixture(scope="module")
def edition(tmp_path_factory):
    out = tmp_path_factory.mktemp("students")
    result = subprocess.run([sys.executable, "-m", "llm_book.classroom", "student-edition", str(out),
                             "--book", str(BOOK)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "student notebooks" in result.stdout
    return out


def load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def test_strip_solutions_keeps_indentation_and_the_rest():
    source = "def f(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION\n\ncheck(f)"
    assert strip_solutions(source) == (
        "def f(x):\n    # YOUR CODE HERE\n    raise NotImplementedError(\"write your solution here\")\n"
        "\ncheck(f)")


@pytest.mark.parametrize("source, message", [
    ("### BEGIN SOLUTION\nx = 1", "without an ### END SOLUTION"),
    ("x = 1\n### END SOLUTION", "line 2: ### END SOLUTION without"),
    ("### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION", "line 2: ### BEGIN SOLUTION inside"),
])
def test_strip_solutions_rejects_bad_markers(source, message):
    with pytest.raises(ValueError, match=message):
        strip_solutions(source)


def test_every_notebook_is_in_the_edition(edition):
    assert sorted(p.name for p in edition.glob("*.ipynb")) == sorted(p.name for p in BOOK.glob("*.ipynb"))


def test_only_the_marked_regions_change(edition):
    for original_path in sorted(BOOK.glob("*.ipynb")):
        original, student = load(original_path), load(edition / original_path.name)
        assert original["metadata"] == student["metadata"]
        assert len(original["cells"]) == len(student["cells"])
        for before, after in zip(original["cells"], student["cells"]):
            if not has_solution(before):
                assert before == after, f"{original_path.name}: a cell without a solution changed"
                continue
            src_before, src_after = "".join(before["source"]), "".join(after["source"])
            head = src_before.split("### BEGIN SOLUTION")[0]
            tail = src_before.rsplit("### END SOLUTION", 1)[1]
            assert src_after.startswith(head.rstrip(" ")) and src_after.endswith(tail)
            assert "NotImplementedError" in src_after and "SOLUTION" not in src_after
            assert after["outputs"] == [] and after["execution_count"] is None
            assert before["metadata"] == after["metadata"] and before.get("id") == after.get("id")


def test_generating_twice_gives_identical_files(edition, tmp_path):
    student_edition(BOOK, tmp_path)
    for path in sorted(edition.glob("*.ipynb")):
        assert path.read_bytes() == (tmp_path / path.name).read_bytes(), path.name


def exercise_cells(nb: dict) -> list[str]:
    return ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code"
            and "NotImplementedError(\"write your solution here\")" in "".join(c["source"])]


def test_every_checker_gives_a_hint_for_the_stub(edition):
    """Each stubbed exercise cell runs on its own and its checker prints a hint, not a traceback."""
    count = 0
    for path in sorted(edition.glob("*.ipynb")):
        for source in exercise_cells(load(path)):
            out = io.StringIO()
            with contextlib.redirect_stdout(out):
                exec(compile(source, f"{path.name}: exercise", "exec"), {"__name__": "__main__"})
            lines = out.getvalue().strip().splitlines()
            assert lines and all(line.startswith("❌ Not yet:") for line in lines), \
                f"{path.name}: expected a hint, got {out.getvalue()!r}\n{source}"
            assert any("not written yet" in line for line in lines)
            count += 1
    assert count >= 4


def test_full_notebooks_store_passing_checkers():
    for path in sorted(BOOK.glob("*.ipynb")):
        for cell in load(path)["cells"]:
            if has_solution(cell):
                text = "".join("".join(o.get("text", "")) for o in cell["outputs"] if o["output_type"] == "stream")
                assert "✅ Right!" in text and "❌" not in text, f"{path.name}: {text!r}"


def test_cli_errors(tmp_path):
    result = subprocess.run([sys.executable, "-m", "llm_book.classroom", "student-edition",
                             str(tmp_path / "out"), "--book", str(tmp_path)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "holds no notebooks" in result.stderr
    with pytest.raises(ValueError, match="is the book itself"):
        student_edition(BOOK, BOOK)
