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

    python -m llm_book.classroom student-edition OUT_DIR [--book book/]
"""

from __future__ import annotations

import argparse
import copy
import json
import re
import sys
from pathlib import Path

BEGIN = "### BEGIN SOLUTION"
END = "### END SOLUTION"
STUB = ["# YOUR CODE HERE", 'raise NotImplementedError("write your solution here")']
_MARKER = re.compile(r"^(?P<indent>[ \t]*)### (?P<kind>BEGIN|END) SOLUTION[ \t]*$")


def strip_solutions(source: str) -> str:
    """Replace every ``### BEGIN SOLUTION`` ... ``### END SOLUTION`` region by the stub.

    The stub keeps the indentation of the BEGIN line.  Raises ValueError for
    unbalanced or nested markers, naming the line.
    """
    out: list[str] = []
    inside = False
    for number, line in enumerate(source.split("\n"), start=1):
        match = _MARKER.match(line)
        if match and match["kind"] == "BEGIN":
            if inside:
                raise ValueError(f"line {number}: {BEGIN} inside another solution region")
            inside = True
            out.extend(match["indent"] + stub for stub in STUB)
        elif match and match["kind"] == "END":
            if not inside:
                raise ValueError(f"line {number}: {END} without a {BEGIN} before it")
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise ValueError(f"{BEGIN} without an {END} after it")
    return "\n".join(out)


def has_solution(cell: dict) -> bool:
    return cell.get("cell_type") == "code" and any(
        _MARKER.match(line) for line in "".join(cell.get("source", "")).split("\n"))


def student_notebook(nb: dict) -> dict:
    """A copy of a notebook (as JSON data) with solutions stubbed and their outputs cleared."""
    nb = copy.deepcopy(nb)
    for cell in nb["cells"]:
        if has_solution(cell):
            source = strip_solutions("".join(cell["source"]))
            cell["source"] = source.splitlines(keepends=True)
            cell["outputs"] = []
            cell["execution_count"] = None
    return nb


def student_edition(book: Path, out_dir: Path) -> list[Path]:
    """Write the student edition of every notebook in ``book`` into ``out_dir``; returns the paths."""
    book, out_dir = Path(book), Path(out_dir)
    notebooks = sorted(book.glob("*.ipynb"))
    if not notebooks:
        raise ValueError(f"`book` ({book}) holds no notebooks; run from the repository root "
                         f"or pass --book with the folder of the chapters")
    if out_dir.resolve() == book.resolve():
        raise ValueError(f"`out_dir` ({out_dir}) is the book itself; the solutions would be lost")
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for path in notebooks:
        nb = json.loads(path.read_text(encoding="utf-8"))
        target = out_dir / path.name
        # The layout Jupyter itself writes (nbformat): one space indent, keys sorted.
        text = json.dumps(student_notebook(nb), indent=1, sort_keys=True, ensure_ascii=False) + "\n"
        target.write_text(text, encoding="utf-8")
        written.append(target)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m llm_book.classroom",
                                     description="Classroom tools for LLM Book.")
    sub = parser.add_subparsers(dest="command", required=True)
    edition = sub.add_parser("student-edition",
                             help="write the notebooks with every solution replaced by a stub")
    edition.add_argument("out_dir", type=Path, help="folder to write the student notebooks into")
    edition.add_argument("--book", type=Path, default=Path("book"),
                         help="folder of the chapter notebooks (default: book)")
    args = parser.parse_args(argv)
    try:
        written = student_edition(args.book, args.out_dir)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    solutions = sum(1 for p in written for c in json.loads(p.read_text(encoding="utf-8"))["cells"]
                    if "NotImplementedError(\"write your solution here\")" in "".join(c["source"]))
    print(f"wrote {len(written)} student notebooks with {solutions} exercises to {args.out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
