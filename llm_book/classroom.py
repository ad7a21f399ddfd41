"""The classroom edition: student notebooks generated from the book's own notebooks.

Each exercise's solution sits in its notebook between two marker lines (the
nbgrader convention)::

    def attention(X):
        ### BEGIN SOLUTION
        ...
        ### END SOLUTION

    check_4_2(attention)

``student-edition`` copies every notebook, replaces each marked region by a
stub that raises ``NotImplementedError`` (so the checker still runs and prints
its hint), clears the outputs of those cells, and leaves everything else
untouched.  The same book always gives byte-identical files.

Markers are recognised however they are written: any number of ``#``, any
case, a note after them (``## begin solution (ex 3)``), CRLF line endings, in
a code cell or in a Markdown cell (there the stub is a line asking for the
answer).  A line that mentions a marker without being one (``x = 1  ### BEGIN
SOLUTION``), unbalanced markers, or a notebook that is not valid JSON with a
list of cells are refused with an error naming the notebook, the cell and the
line; nothing is written until every notebook has passed.

The prose answers go too.  From a chapter's ``## Exercises`` heading to the
end of the notebook (its *Going further* part included), every
``<details>`` block of a Markdown cell (``<details><summary>Answer</summary>
...</details>``, the answers the website hides behind a click) is replaced by
the line ``ANSWER_STUB`` ("*Answer this one yourself; your teacher has the
answer.*").  The sentence that tells readers of the book "the solutions are
hidden on the website: click to reveal them" becomes ``EDITION_SENTENCE``,
which says what holds in this edition.  :func:`replace_answers` is the one
place that finds these blocks (the slides use it too).

    python -m llm_book.classroom student-edition OUT_DIR [--book book/]

The four sub-commands:

``student-edition``
    the notebooks with every solution and answer replaced by a stub (above).
``nbgrader-course``
    an nbgrader course, one autograded assignment per chapter with exercises
    (:mod:`llm_book.nbgrader_course`)::

        python -m llm_book.classroom nbgrader-course COURSE_DIR [--book book/] [--force] [--chapter-url T]
``student-site``
    the website built from the student edition (:mod:`llm_book.student_site`)::

        python -m llm_book.classroom student-site OUT [--root .] [--repository-url URL --branch B]
``slides``
    every chapter as an offline reveal.js deck (:mod:`llm_book.slides`)::

        python -m llm_book.classroom slides OUT [--book book]
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import re
import sys
from pathlib import Path
from typing import Sequence

BEGIN = "### BEGIN SOLUTION"
END = "### END SOLUTION"
STUB = ["# YOUR CODE HERE", 'raise NotImplementedError("write your solution here")']
MARKDOWN_STUB = ["*Write your answer here.*"]
ANSWER_STUB = "*Answer this one yourself; your teacher has the answer.*"
EDITION_SENTENCE = "This edition has no solutions: write yours in each exercise cell and run it."

# A <details> block (an answer the website hides behind a click), wherever it starts and ends.
DETAILS = re.compile(r"<details\b.*?</details\s*>", re.IGNORECASE | re.DOTALL)
# "The solutions are hidden on the website: click to reveal them, but try first." and its variants.
HIDDEN_SENTENCE = re.compile(r"(?:The\s+s|S)olutions\s+are\s+hidden\s+on\s+the\s+website"
                             r"(?:\s*[:;]\s*(?:click\s+to\s+reveal\s+them,?\s+but\s+)?try\s+first)?\.")
EXERCISES_HEADING = re.compile(r"^##[ \t]+(?:[\d.]+[ \t]+)?Exercises\b", re.IGNORECASE | re.MULTILINE)

# A marker line: only the marker (and an optional note after it) on its line.
_MARKER = re.compile(r"^(?P<indent>[ \t]*)#+[ \t]*(?P<kind>BEGIN|END)[ \t_]+SOLUTION\b.*$", re.IGNORECASE)
# Anything that looks like a marker, wherever it is on the line.
_MENTION = re.compile(r"\b(?:BEGIN|END)[ \t_-]*SOLUTIONS?\b", re.IGNORECASE)
_CODE_SPAN = re.compile(r"`[^`]*`")


def _lines(source: str) -> list[tuple[str, str]]:
    """Split ``source`` into (text, line ending) pairs; the ending is "\\n", "\\r\\n" or ""."""
    pieces = re.split(r"(?<=\n)", source)
    if pieces and pieces[-1] == "":
        pieces.pop()
    out = []
    for piece in pieces:
        text = piece.rstrip("\r\n")
        out.append((text, piece[len(text):]))
    return out


def _source_text(source: str | list[str]) -> str:
    return source if isinstance(source, str) else "".join(source)


def strip_solutions(source: str, *, markdown: bool = False) -> str:
    """Replace every ``### BEGIN SOLUTION`` ... ``### END SOLUTION`` region by the stub.

    Args:
        source: the text of one cell.
        markdown: the cell is Markdown: the stub is ``MARKDOWN_STUB``, and
            marker words inside inline code spans (`` `### BEGIN SOLUTION` ``)
            count as prose about the markers, not as markers.

    Returns:
        ``source`` with each region (markers included) replaced by the stub,
        indented like the BEGIN line and ending as it does (LF or CRLF).

    Raises:
        ValueError: unbalanced or nested markers, or a line that mentions a
            marker without being one, naming the line.
    """
    stub = MARKDOWN_STUB if markdown else STUB
    out: list[str] = []
    inside = False
    lines = _lines(source)
    for number, (text, ending) in enumerate(lines, start=1):
        match = _MARKER.match(text)
        if match and match["kind"].upper() == "BEGIN":
            if inside:
                raise ValueError(f"line {number}: {text.strip()} inside another solution region")
            inside = True
            out.extend(match["indent"] + line + (ending or "\n") for line in stub)
        elif match:
            if not inside:
                raise ValueError(f"line {number}: {text.strip()} without a {BEGIN} before it")
            inside = False
        elif _MENTION.search(_CODE_SPAN.sub("", text) if markdown else text):
            raise ValueError(f"line {number} ({text.strip()!r}) mentions a solution marker but is not "
                             f"one; write the marker alone on its line, e.g. `    {BEGIN}`")
        elif not inside:
            out.append(text + ending)
    if inside:
        raise ValueError(f"{BEGIN} without an {END} after it")
    result = "".join(out)
    if lines and not lines[-1][1]:  # the source had no final line ending: neither has the result
        result = result.rstrip("\r\n")
    return result


def replace_answers(text: str, stub: str = ANSWER_STUB) -> str:
    """``text`` with every ``<details>`` block replaced by ``stub`` (a Markdown line; "" drops them)."""
    return DETAILS.sub(stub, text)


def _student_markdown(source: str, in_exercises: bool) -> str:
    """A Markdown cell's text as the student edition shows it: the sentence about answers hidden on the
    website rewritten; in the Exercises part, every ``<details>`` answer replaced by ``ANSWER_STUB``."""
    source = HIDDEN_SENTENCE.sub(EDITION_SENTENCE, source)
    return replace_answers(source) if in_exercises else source


def has_solution(cell: dict) -> bool:
    """Whether a code or Markdown cell holds a solution marker (in any of the spellings recognised)."""
    if cell.get("cell_type") not in ("code", "markdown"):
        return False
    return any(_MARKER.match(text) for text, _ in _lines(_source_text(cell.get("source", ""))))


def _check_cell(cell: object, index: int, name: str) -> None:
    where = f"{name}, cell {index}"
    if not isinstance(cell, dict):
        raise ValueError(f"{where}: a cell has to be a JSON object, got {type(cell).__name__}")
    source = cell.get("source", "")
    if not (isinstance(source, str) or (isinstance(source, list) and all(isinstance(s, str) for s in source))):
        raise ValueError(f"{where}: `source` has to be a string or a list of strings, "
                         f"got {type(source).__name__}")


def student_notebook(nb: dict, name: str = "notebook") -> dict:
    """A copy of a notebook (as JSON data) with solutions stubbed and their outputs cleared.

    Args:
        nb: the notebook as ``json.loads`` gives it.
        name: how error messages name the notebook (its file name).

    Raises:
        ValueError: the notebook has no list of cells, or a cell's markers are
            malformed (see :func:`strip_solutions`); the message names the
            notebook and the cell index.
    """
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        found = "no `cells`" if isinstance(nb, dict) else f"a JSON {type(nb).__name__}"
        raise ValueError(f"{name} is not a notebook: expected a JSON object with a list of `cells`, "
                         f"found {found}")
    nb = copy.deepcopy(nb)
    in_exercises = False
    for index, cell in enumerate(nb["cells"]):
        _check_cell(cell, index, name)
        kind, source = cell.get("cell_type"), _source_text(cell.get("source", ""))
        if kind not in ("code", "markdown"):
            if _MENTION.search(source):
                raise ValueError(f"{name}, cell {index}: a solution marker in a {kind!r} cell; "
                                 f"solutions go in code or Markdown cells")
            continue
        try:
            stripped = strip_solutions(source, markdown=kind == "markdown")
        except ValueError as err:
            raise ValueError(f"{name}, cell {index} ({kind}): {err}") from None
        if kind == "markdown":
            heading = EXERCISES_HEADING.search(stripped)
            if heading and not in_exercises:  # answers after the heading, in this cell and the next ones
                in_exercises = True
                start = heading.start()
                stripped = _student_markdown(stripped[:start], False) + _student_markdown(stripped[start:], True)
            else:
                stripped = _student_markdown(stripped, in_exercises)
        if stripped == source:
            continue
        lines = [text + ending for text, ending in _lines(stripped)]
        cell["source"] = stripped if isinstance(cell["source"], str) else lines
        if kind == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
    return nb


def _existing_chain(path: Path) -> list[Path]:
    """``path`` and its parents, both as written (made absolute) and with links resolved, that exist."""
    starts = [Path(os.path.abspath(path))]
    try:
        starts.append(path.resolve())
    except (OSError, RuntimeError):  # a symlink loop: the spelled path is all there is
        pass
    chain = []
    for start in starts:
        chain.extend(p for p in (start, *start.parents) if p.exists())
    return chain


def _is_same_or_inside(path: Path, folder: Path) -> bool:
    """Whether ``path`` is ``folder`` or lies inside it, by file identity (device and inode), not by
    spelling: a symlink, another case on a case-insensitive file system, or ``..`` are all seen through."""
    return any(os.path.samefile(p, folder) for p in _existing_chain(path))


def _book_notebooks(book: Path, leave_out: Sequence[str] = (), what: str = "notebooks") -> list[Path]:
    """The notebooks of the folder ``book``, sorted, without the names in ``leave_out``.

    Raises ValueError when ``book`` is not a folder or holds none (``what`` names them).
    """
    if not book.is_dir():
        raise ValueError(f"`book` ({book}) is not a folder; pass --book with the folder of the chapters")
    notebooks = [p for p in sorted(book.glob("*.ipynb")) if p.stem not in leave_out]
    if not notebooks:
        raise ValueError(f"`book` ({book}) holds no {what}; run from the repository root "
                         f"or pass --book with the folder of the chapters")
    return notebooks


def _check_outside_book(folder: Path, book: Path, name: str, why_not_inside: str,
                        if_a_file: str = "") -> None:
    """``folder`` (the argument ``name``) may be missing or a folder, but neither inside ``book`` nor
    containing it; ``why_not_inside`` and ``if_a_file`` end the messages."""
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"`{name}` ({folder}) is a file, not a folder{if_a_file}")
    if _is_same_or_inside(folder, book):
        raise ValueError(f"`{name}` ({folder}) is inside the book ({book}); {why_not_inside}")
    if folder.exists() and _is_same_or_inside(book, folder):
        raise ValueError(f"`{name}` ({folder}) contains the book ({book}); choose a folder outside it")


def _check_out_dir(book: Path, out_dir: Path, notebooks: Sequence[Path]) -> None:
    for parent in Path(os.path.abspath(out_dir)).parents:
        if parent.exists():
            if not parent.is_dir():
                raise ValueError(f"`out_dir` ({out_dir}) lies inside {parent}, which is a file, not a folder")
            break
    if out_dir.exists() and out_dir.is_dir() and os.path.samefile(out_dir, book):
        raise ValueError(f"`out_dir` ({out_dir}) is the book itself ({book}); the solutions would be lost")
    _check_outside_book(out_dir, book, "out_dir", "the book would then hold the student edition: "
                        "choose a folder outside it", if_a_file="; give the folder to write the student "
                        "notebooks into (it is created if missing)")
    for path in notebooks:
        target = out_dir / path.name
        if target.exists() and any(os.path.samefile(target, nb) for nb in notebooks):
            raise ValueError(f"`out_dir` ({out_dir}) holds {target.name}, a link to a notebook of the book; "
                             f"writing it would overwrite the book")


def _read_notebook(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as err:
        raise ValueError(f"{path} is not a notebook: not UTF-8 text ({err})") from None
    except json.JSONDecodeError as err:
        raise ValueError(f"{path} is not a notebook: invalid JSON at line {err.lineno}, "
                         f"column {err.colno} ({err.msg})") from None


def student_edition(book: Path, out_dir: Path) -> list[Path]:
    """Write the student edition of every notebook in ``book`` into ``out_dir``; returns the paths.

    Every notebook is read and checked first; a bad one raises ValueError and
    nothing is written.  ``out_dir`` may be neither the book, nor inside it,
    nor contain it (checked by file identity, so symlinks and case-insensitive
    file systems do not get around it).
    """
    book, out_dir = Path(book), Path(out_dir)
    notebooks = _book_notebooks(book)
    _check_out_dir(book, out_dir, notebooks)
    texts = {}
    for path in notebooks:
        student = student_notebook(_read_notebook(path), name=str(path))
        # The layout Jupyter itself writes (nbformat): one space indent, keys sorted.
        texts[out_dir / path.name] = json.dumps(student, indent=1, sort_keys=True, ensure_ascii=False) + "\n"
    out_dir.mkdir(parents=True, exist_ok=True)
    for target, text in texts.items():
        target.write_text(text, encoding="utf-8")
    return list(texts)


def _count_stubs(paths: Sequence[Path]) -> int:
    stubs = (STUB[-1], MARKDOWN_STUB[-1])
    return sum(1 for p in paths for c in json.loads(p.read_text(encoding="utf-8"))["cells"]
               if any(stub in _source_text(c.get("source", "")) for stub in stubs))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m llm_book.classroom",
                                     description="Classroom tools for LLM Book.")
    sub = parser.add_subparsers(dest="command", required=True)
    edition = sub.add_parser("student-edition",
                             help="write the notebooks with every solution replaced by a stub")
    edition.add_argument("out_dir", type=Path, help="folder to write the student notebooks into")
    edition.add_argument("--book", type=Path, default=Path("book"),
                         help="folder of the chapter notebooks (default: book)")
    edition.set_defaults(run=_student_edition_command)
    from llm_book import nbgrader_course, slides, student_site  # here, not at the top: they import this module
    nbgrader_course.add_command(sub)
    student_site.add_command(sub)
    slides.add_command(sub)
    args = parser.parse_args(argv)
    try:
        return args.run(args)  # every sub-command dispatches to its function
    except (ValueError, RuntimeError) as err:  # bad arguments, a missing tool (jupyter-book, npm's files)
        print(f"error: {err}", file=sys.stderr)
        return 2
    except OSError as err:  # unreadable book, unwritable folder, disk full: no traceback, the path named
        where = err.filename or getattr(args, "out_dir", None) or getattr(args, "course_dir", "")
        print(f"error: {err.strerror or err}: {where}", file=sys.stderr)
        return 2


def _student_edition_command(args: argparse.Namespace) -> int:
    written = student_edition(args.book, args.out_dir)
    print(f"wrote {len(written)} student notebooks with {_count_stubs(written)} exercises to {args.out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
