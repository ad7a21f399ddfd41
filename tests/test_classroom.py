"""The student edition: stubs where solutions were, nothing else changed, checkers give hints."""

import contextlib
import io
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llm_book.classroom import (EDITION_SENTENCE, MARKDOWN_STUB, STUB, has_solution, main, strip_solutions,
                                student_edition, student_notebook)

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


def _without_answers(text: str) -> str:
    from llm_book.classroom import ANSWER_STUB, HIDDEN_SENTENCE, replace_answers
    return replace_answers(HIDDEN_SENTENCE.sub("", text).replace(EDITION_SENTENCE, ""), "").replace(ANSWER_STUB, "")


def test_only_the_marked_regions_change(edition):
    for original_path in sorted(BOOK.glob("*.ipynb")):
        original, student = load(original_path), load(edition / original_path.name)
        assert original["metadata"] == student["metadata"]
        assert len(original["cells"]) == len(student["cells"])
        for before, after in zip(original["cells"], student["cells"]):
            if not has_solution(before) and before["cell_type"] == "markdown" and before != after:
                # only the answers in words (<details>) and the sentence about the website may change
                assert {**before, "source": ""} == {**after, "source": ""}
                assert _without_answers("".join(before["source"])) == _without_answers("".join(after["source"]))
                continue
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


def test_cli_lists_its_commands():
    result = subprocess.run([sys.executable, "-m", "llm_book.classroom", "--help"], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0
    assert "student-edition" in result.stdout and "nbgrader-course" in result.stdout


def test_cli_errors(tmp_path):
    result = subprocess.run([sys.executable, "-m", "llm_book.classroom", "student-edition",
                             str(tmp_path / "out"), "--book", str(tmp_path)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "holds no notebooks" in result.stderr
    with pytest.raises(ValueError, match="is the book itself"):
        student_edition(BOOK, BOOK)


# ---------------------------------------------------------------- nothing of a solution leaks

# Read independently of llm_book.classroom: any number of '#', any case, a note after the marker.
MARKER_LINE = re.compile(r"^\s*#+\s*(begin|end)[ \t_]+solution\b", re.IGNORECASE)
# Lines that tell nothing about an answer: blank, lone brackets, bare keywords, returning one name.
TRIVIAL = re.compile(r"^(?:[()\[\]{}:,.\s]*|pass|continue|break|else:|try:|finally:|return(?: \w+)?)$")


def code_part(line: str) -> str:
    """A line without its indentation and trailing comment."""
    return re.sub(r"\s+#.*$", "", line).strip()


def solution_lines_and_public_lines() -> tuple[dict[str, str], set[str]]:
    """Every line inside a solution region of the full book (with where it is), and every line the
    chapters show in their own code outside those regions (idioms such as ``optimizer.step()``)."""
    solutions, public = {}, set()
    for path in sorted(BOOK.glob("*.ipynb")):
        for index, cell in enumerate(load(path)["cells"]):
            inside = False
            for line in "".join(cell["source"]).splitlines():
                marker = MARKER_LINE.match(line)
                if marker:
                    inside = marker.group(1).lower() == "begin"
                elif inside:
                    solutions.setdefault(code_part(line), f"{path.name}, cell {index}")
                elif cell["cell_type"] == "code" and path.name[0].isdigit():
                    public.add(code_part(line))
    return solutions, public


def all_strings(value, key: str = "") -> list[str]:
    """Every string in a JSON value: cell sources, outputs (text, HTML, SVG), metadata; not the
    base64 of PNG or JPEG images, which cannot hold a line of code as text."""
    if isinstance(value, str):
        return [] if key in ("image/png", "image/jpeg") else [value]
    if isinstance(value, list):
        return [s for item in value for s in all_strings(item, key)]
    if isinstance(value, dict):
        return [s for k, item in value.items() for s in all_strings(item, k)]
    return []


def test_no_solution_line_appears_anywhere_in_the_edition(edition):
    """No line of any solution, in any file of the edition, in any cell's source or output."""
    solutions, public = solution_lines_and_public_lines()
    secret = {line: where for line, where in solutions.items() if not TRIVIAL.match(line) and line not in public}
    # Every exercise keeps lines of its own that only its solution has, so the check covers all of them.
    assert {where for where in solutions.values()} == {where for where in secret.values()}
    assert len(secret) > 90
    # One pattern for all of them; a line matches whole words only ("p = 1.0" is not in "bp = 1.0").
    secrets = sorted(secret, key=len, reverse=True)
    pattern = re.compile(r"(?<![\w.])(?:" + "|".join(map(re.escape, secrets)) + r")(?!\w)")
    files = sorted(p for p in edition.rglob("*") if p.is_file())
    assert len(files) == len(list(BOOK.glob("*.ipynb")))
    for path in files:
        raw = path.read_text(encoding="utf-8")
        for text in all_strings(json.loads(raw)) if path.suffix == ".ipynb" else [raw]:
            found = pattern.search(text)
            assert not found, f"{path.name} shows a line of the solution in {secret[found[0]]}: {found[0]!r}"


def test_the_teachers_guide_shows_the_student_cell_only(edition):
    """The guide is copied unchanged, and shows Exercise 4.2 as students get it, read from the chapter."""
    guide = load(edition / "teachers_guide.ipynb")
    assert guide == load(BOOK / "teachers_guide.ipynb")
    exercise = next("".join(c["source"]) for c in load(BOOK / "04_mathematics.ipynb")["cells"]
                    if has_solution(c) and "check_4_2(" in "".join(c["source"]))
    shown = "".join(t for c in guide["cells"] for o in c.get("outputs", []) for t in o.get("text", ""))
    assert strip_solutions(exercise) + "\n\n❌ Not yet: the function is not written yet" in shown


# ---------------------------------------------------------------- markers written differently

SOLUTION = "    return 2 * x"


@pytest.mark.parametrize("begin, end", [
    ("### BEGIN SOLUTION (ex 3)", "### END SOLUTION (ex 3)"),
    ("## BEGIN SOLUTION", "## END SOLUTION"),
    ("### begin solution", "### end solution"),
    ("#BEGIN SOLUTION", "#END SOLUTION"),
    ("### Begin  Solution", "#### END_SOLUTION"),
])
def test_marker_variants_are_stubbed(begin, end):
    source = f"def f(x):\n    {begin}\n{SOLUTION}\n    {end}\n\ncheck(f)"
    assert has_solution({"cell_type": "code", "source": source})
    assert strip_solutions(source) == (
        "def f(x):\n    # YOUR CODE HERE\n    raise NotImplementedError(\"write your solution here\")\n"
        "\ncheck(f)")


def test_crlf_line_endings_are_stubbed_and_kept():
    source = "def f(x):\r\n    ### BEGIN SOLUTION\r\n    return 2 * x\r\n    ### END SOLUTION\r\n\r\ncheck(f)\r\n"
    assert strip_solutions(source) == (
        "def f(x):\r\n    # YOUR CODE HERE\r\n    raise NotImplementedError(\"write your solution here\")\r\n"
        "\r\ncheck(f)\r\n")
    nb = notebook({"cell_type": "code", "source": source.splitlines(keepends=True), "outputs": [{"x": 1}],
                   "execution_count": 3, "metadata": {}})
    cell = student_notebook(nb)["cells"][0]
    assert "return 2 * x" not in "".join(cell["source"]) and cell["outputs"] == []
    assert all(line.endswith("\r\n") for line in cell["source"])


def test_markers_in_a_markdown_cell_are_stubbed():
    cell = {"cell_type": "markdown", "metadata": {},
            "source": ["**Answer.** Explain why.\n", "### BEGIN SOLUTION\n", "Because the mask is causal.\n",
                       "### END SOLUTION\n", "Markers look like `### BEGIN SOLUTION`.\n"]}
    assert has_solution(cell)
    out = student_notebook(notebook(cell))["cells"][0]
    assert out["source"] == ["**Answer.** Explain why.\n", MARKDOWN_STUB[0] + "\n",
                             "Markers look like `### BEGIN SOLUTION`.\n"]
    assert "outputs" not in out


def notebook(*cells: dict) -> dict:
    return {"cells": list(cells), "metadata": {}, "nbformat": 4, "nbformat_minor": 5}


def code(source: str) -> dict:
    return {"cell_type": "code", "source": source, "outputs": [], "execution_count": None, "metadata": {}}


@pytest.mark.parametrize("cell, message", [
    (code("x = 1  ### BEGIN SOLUTION\ny = 2\n### END SOLUTION"), r"cell 1 \(code\): line 1 .* mentions a"),
    (code("### BEGIN SOLUTION\ny = 2"), r"cell 1 \(code\): ### BEGIN SOLUTION without an ### END"),
    (code("y = 2\n## end solution"), r"cell 1 \(code\): line 2: ## end solution without a ### BEGIN"),
    (code("### BEGIN SOLUTION\n### begin solution\n### END SOLUTION"), r"cell 1 \(code\): line 2: ### begin"),
    (code('s = "BEGIN SOLUTION"'), r"cell 1 \(code\): line 1 .* mentions a"),
    ({"cell_type": "markdown", "source": "<!-- BEGIN SOLUTION -->\nanswer", "metadata": {}},
     r"cell 1 \(markdown\): line 1 .* mentions a"),
    ({"cell_type": "markdown", "source": "### BEGIN SOLUTION\nanswer", "metadata": {}},
     r"cell 1 \(markdown\): ### BEGIN SOLUTION without"),
    ({"cell_type": "raw", "source": "### BEGIN SOLUTION\nx\n### END SOLUTION", "metadata": {}},
     r"cell 1: a solution marker in a 'raw' cell"),
    ({"cell_type": "code", "source": 3}, r"cell 1: `source` has to be a string or a list of strings, got int"),
])
def test_doubtful_markers_are_refused_naming_notebook_and_cell(cell, message):
    with pytest.raises(ValueError, match=r"^ch\.ipynb, " + message):
        student_notebook(notebook(code("print(1)"), cell), name="ch.ipynb")


@settings(max_examples=200, deadline=None, derandomize=True)
@given(st.lists(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=30)
                .filter(lambda line: "solution" not in line.lower()),
                max_size=8),
       st.sampled_from(["\n", "\r\n"]))
def test_source_without_markers_is_left_byte_for_byte(lines, ending):
    source = ending.join(lines)
    assert strip_solutions(source) == source


# ---------------------------------------------------------------- nothing written before every check passed

def write_book(folder: Path, notebooks: dict[str, object]) -> Path:
    folder.mkdir()
    for name, content in notebooks.items():
        text = content if isinstance(content, str) else json.dumps(content)
        (folder / name).write_text(text, encoding="utf-8")
    return folder


GOOD = notebook(code("def f(x):\n    ### BEGIN SOLUTION\n    return x\n    ### END SOLUTION\n"))


@pytest.mark.parametrize("bad, message", [
    (notebook(code("### BEGIN SOLUTION\nx = 1\n")), r"z_bad\.ipynb, cell 0 \(code\): ### BEGIN SOLUTION without"),
    ("{not json", r"z_bad\.ipynb is not a notebook: invalid JSON at line 1, column 2"),
    ({"metadata": {}}, r"z_bad\.ipynb is not a notebook: expected a JSON object with a list of `cells`, "
                       r"found no `cells`"),
    ([], r"z_bad\.ipynb is not a notebook: .* found a JSON list"),
    ({"cells": None}, r"z_bad\.ipynb is not a notebook"),
    (b"\xff\xfe".decode("latin-1"), r"z_bad\.ipynb is not a notebook: invalid JSON"),
])
def test_a_bad_notebook_late_in_the_list_writes_nothing(tmp_path, bad, message):
    book = write_book(tmp_path / "book", {"a_good.ipynb": GOOD, "z_bad.ipynb": bad})
    with pytest.raises(ValueError, match=message):
        student_edition(book, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    existing = tmp_path / "existing"
    existing.mkdir()
    (existing / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match=message):
        student_edition(book, existing)
    assert [p.name for p in existing.iterdir()] == ["notes.txt"]


def test_not_utf8_is_a_clear_error(tmp_path):
    book = write_book(tmp_path / "book", {"a.ipynb": GOOD})
    (book / "b.ipynb").write_bytes(b'{"cells": ["\xff"]}')
    with pytest.raises(ValueError, match=r"b\.ipynb is not a notebook: not UTF-8"):
        student_edition(book, tmp_path / "out")
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------- never write over the book

@pytest.fixture
def small_book(tmp_path):
    book = write_book(tmp_path / "book", {"01.ipynb": GOOD})
    return book, (book / "01.ipynb").read_bytes()


def test_out_dir_inside_the_book_is_refused(small_book):
    book, before = small_book
    with pytest.raises(ValueError, match=r"is inside the book"):
        student_edition(book, book / "students")
    with pytest.raises(ValueError, match=r"is inside the book"):
        student_edition(book, book / "students" / ".." / "more" / "students")
    assert not (book / "students").exists() and not (book / "more").exists()
    assert (book / "01.ipynb").read_bytes() == before


def test_out_dir_through_a_symlink_to_the_book_is_refused(small_book, tmp_path):
    """A second name for the same folder (a symlink here; another spelling of the case on a
    case-insensitive file system) is recognised by file identity, not by comparing strings."""
    book, before = small_book
    link = tmp_path / "BOOK"
    link.symlink_to(book, target_is_directory=True)
    with pytest.raises(ValueError, match=r"is the book itself"):
        student_edition(book, link)
    with pytest.raises(ValueError, match=r"is inside the book"):
        student_edition(book, link / "students")
    with pytest.raises(ValueError, match=r"is the book itself"):
        student_edition(link, book)
    assert sorted(p.name for p in book.iterdir()) == ["01.ipynb"]
    assert (book / "01.ipynb").read_bytes() == before


def test_out_dir_containing_the_book_is_refused(small_book, tmp_path):
    book, before = small_book
    with pytest.raises(ValueError, match=r"contains the book"):
        student_edition(book, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["book"]


def test_out_dir_with_a_link_to_a_notebook_of_the_book_is_refused(small_book, tmp_path):
    book, before = small_book
    out = tmp_path / "out"
    out.mkdir()
    (out / "01.ipynb").symlink_to(book / "01.ipynb")
    with pytest.raises(ValueError, match=r"holds 01\.ipynb, a link to a notebook of the book"):
        student_edition(book, out)
    assert (book / "01.ipynb").read_bytes() == before


# ---------------------------------------------------------------- the command line: errors, not tracebacks

def run_main(capsys, *args: str) -> tuple[int, str]:
    code = main(["student-edition", *args])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    return code, captured.err


def test_cli_out_dir_is_a_file(small_book, tmp_path, capsys):
    book, _ = small_book
    target = tmp_path / "notes.txt"
    target.write_text("mine")
    code, err = run_main(capsys, str(target), "--book", str(book))
    assert code == 2 and f"`out_dir` ({target}) is a file, not a folder" in err
    code, err = run_main(capsys, str(target / "sub"), "--book", str(book))
    assert code == 2 and f"lies inside {target}, which is a file" in err
    assert target.read_text() == "mine"


@pytest.mark.parametrize("content, message", [
    ("{not json", "is not a notebook: invalid JSON at line 1"),
    ("{}", "is not a notebook: expected a JSON object with a list of `cells`"),
    ("", "is not a notebook: invalid JSON"),
])
def test_cli_bad_notebook(tmp_path, capsys, content, message):
    book = write_book(tmp_path / "book", {"a.ipynb": GOOD, "b.ipynb": content})
    code, err = run_main(capsys, str(tmp_path / "out"), "--book", str(book))
    assert code == 2 and err.startswith("error: ") and f"{book / 'b.ipynb'} {message}" in err
    assert not (tmp_path / "out").exists()


def test_cli_book_is_a_file(tmp_path, capsys):
    (tmp_path / "book.ipynb").write_text("{}")
    code, err = run_main(capsys, str(tmp_path / "out"), "--book", str(tmp_path / "book.ipynb"))
    assert code == 2 and "is not a folder" in err


def test_cli_unwritable_out_dir(small_book, tmp_path, capsys, monkeypatch):
    book, _ = small_book
    out = tmp_path / "out"

    def refuse(self, *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "mkdir", refuse)
    code, err = run_main(capsys, str(out), "--book", str(book))
    assert code == 2 and err == f"error: Permission denied: {out}\n"


def test_cli_writes_markdown_and_code_stubs(tmp_path, capsys):
    md = {"cell_type": "markdown", "metadata": {}, "source": "## begin solution\nanswer\n## end solution\n"}
    book = write_book(tmp_path / "book", {"a.ipynb": notebook(md, code(GOOD["cells"][0]["source"]))})
    assert main(["student-edition", str(tmp_path / "out"), "--book", str(book)]) == 0
    assert "wrote 1 student notebooks with 2 exercises" in capsys.readouterr().out
    cells = load(tmp_path / "out" / "a.ipynb")["cells"]
    assert cells[0]["source"] == MARKDOWN_STUB[0] + "\n"   # a string stays a string
    assert [line.strip() for line in cells[1]["source"].splitlines()][1:] == STUB


# ---------------------------------------------------------------- answers in words, and what the edition says

def _markdown(text: str) -> dict:
    return {"cell_type": "markdown", "metadata": {}, "source": text}


def test_answers_after_the_exercises_heading_become_a_stub():
    from llm_book.classroom import ANSWER_STUB
    nb = {"cells": [
        _markdown("## 1.1 A section\n\n<details><summary>Aside</summary>kept: not an answer</details>\n"),
        _markdown("## Summary\n\nshort\n\n## Exercises\n\nIntro. The solutions are hidden on the website: click "
                  "to reveal them, but try first.\n\n**Exercise 1.1 (easy).** Predict.\n\n"
                  "<details><summary>Answer to the prediction</summary>\n\nThe secret answer.\n</details>\n"),
        _markdown("<DETAILS>\n<summary>Answer</summary>\nAnother secret\n</details >\n\n## Going further\n\n"
                  "<details><summary>Answer</summary>A third secret</details>"),
    ], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    out = student_notebook(nb)
    texts = ["".join(c["source"]) for c in out["cells"]]
    assert "kept: not an answer" in texts[0]  # before the Exercises heading: untouched
    assert "secret" not in "".join(texts) and "<details" not in "".join(texts[1:]).lower()
    assert "".join(texts).count(ANSWER_STUB) == 3
    assert "hidden on the website" not in texts[1] and EDITION_SENTENCE in texts[1]
    assert texts[1].startswith("## Summary\n\nshort\n\n## Exercises\n\nIntro. " + EDITION_SENTENCE)


@pytest.mark.parametrize("sentence", [
    "The solutions are hidden on the website: click to reveal them, but try first.",
    "Solutions are hidden on the website; try first.",
    "The solutions are hidden on the website:\nclick to reveal them, but try first.",
    "The solutions are hidden on the website.",
])
def test_every_wording_of_the_hidden_solutions_sentence_is_rewritten(sentence):
    nb = {"cells": [_markdown(f"Before. {sentence} After.")], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    assert "".join(student_notebook(nb)["cells"][0]["source"]) == f"Before. {EDITION_SENTENCE} After."


def test_the_book_student_edition_has_no_answer_and_no_contradiction(tmp_path):
    from llm_book.classroom import ANSWER_STUB
    written = student_edition(BOOK, tmp_path / "out")
    stubs = 0
    for path in written:
        text = path.read_text(encoding="utf-8")
        assert "hidden on the website" not in text, path.name
        cells = json.loads(text)["cells"]
        after = False
        for cell in cells:
            source = "".join(cell["source"])
            after = after or (cell["cell_type"] == "markdown" and "## Exercises" in source)
            if after:
                assert "<details" not in source.lower(), path.name
        stubs += text.count(ANSWER_STUB)
    assert stubs >= 20  # ~20 answers in words across 11 chapters
