"""An nbgrader course made from the book: one assignment per chapter with exercises.

``python -m llm_book.classroom nbgrader-course COURSE_DIR [--book book/] [--force]`` writes

* ``COURSE_DIR/nbgrader_config.py`` (course id, the course folder as ``CourseDirectory.root``,
  120 s a cell while autograding, the book's own stub in place of a solution), and
* ``COURSE_DIR/source/<assignment>/<chapter>.ipynb`` for every chapter with exercises, e.g.
  ``source/ch04_mathematics/04_mathematics.ipynb``.

An assignment notebook holds the chapter's exercises only, so that autograding takes seconds:

1. a title and a note naming the chapter (locked);
2. a setup cell (locked): the statements of the chapter that the exercises use (imports, the toy
   language, a model...), found by reading the chapter's code, statement by statement;
3. for every exercise: its statement (Markdown, locked; code that the statement discusses, such as
   the buggy function of a find-the-bug exercise, is shown in it as a code block), a solution cell
   (the exercise cell without its check call; nbgrader ``solution``, the answer between
   ``### BEGIN SOLUTION`` and ``### END SOLUTION``) and an autograded test cell (``grade``,
   ``locked``, ``points``) that calls the chapter's checker in strict mode, then again, between
   ``### BEGIN HIDDEN TESTS`` and ``### END HIDDEN TESTS``, on inputs the student never saw.

Points come from the difficulty the statement names: easy 1, medium 2, harder 3.  grade_ids are
``ex4_1_statement``, ``ex4_1_solution``, ``ex4_1_tests`` (plus ``intro`` and ``setup``), the same on
every run; the same book gives byte-identical files.
"""

from __future__ import annotations

import ast
import builtins
import json
import re
import symtable
from dataclasses import dataclass
from pathlib import Path

from llm_book.classroom import _is_same_or_inside, _read_notebook, _source_text, has_solution

POINTS = {"easy": 1, "medium": 2, "harder": 3, "hard": 3}
"""Points of an exercise by the first word of its difficulty, ``**Exercise 4.4 (medium, ...)**``."""

COURSE_ID = "llm-book"
TIMEOUT_S = 120
"""Seconds one cell may run while nbgrader autogrades (the checkers stop a function after 60 s)."""

SCHEMA_VERSION = 3
_CHECK = re.compile(r"^check_(\d+)_(\d+)$")
_BUILTINS = frozenset(dir(builtins)) | {"__name__", "__file__", "get_ipython", "display"}

CONFIG_TEMPLATE = '''\
"""nbgrader configuration of the LLM Book course; written by `python -m llm_book.classroom nbgrader-course`."""
import os

c = get_config()  # noqa: F821 (nbgrader defines get_config)

c.CourseDirectory.course_id = {course_id!r}
c.CourseDirectory.root = os.path.dirname(os.path.abspath(__file__))  # this folder, wherever it is moved
c.Execute.timeout = {timeout}  # seconds a cell may run while autograding
c.ClearSolutions.code_stub = {{"python": {stub!r}}}
'''
STUB = '# YOUR CODE HERE\nraise NotImplementedError("write your solution here")'


@dataclass(frozen=True)
class Exercise:
    """One exercise of a chapter, split the way nbgrader grades it."""

    number: str      # "4.1"
    points: int
    statement: str   # Markdown
    solution: str    # the solution cell's code (with the solution markers)
    test: str        # the autograded test cell's code (public and hidden checks)

    @property
    def grade_id(self) -> str:
        return "ex" + self.number.replace(".", "_")


@dataclass(frozen=True)
class Assignment:
    """A chapter's assignment: its name, the notebook's file name and the notebook itself."""

    name: str        # "ch04_mathematics"
    notebook: str    # "04_mathematics.ipynb"
    exercises: tuple[Exercise, ...]
    nb: dict

    @property
    def points(self) -> int:
        return sum(e.points for e in self.exercises)


# ---------------------------------------------------------------------------------------------
# Reading names: what a piece of code binds at module level, and what it needs from outside
# ---------------------------------------------------------------------------------------------
def _scope_names(source: str) -> tuple[set[str], set[str], set[str]]:
    """``(bound, free, rebound)`` for module-level code: names it binds at top level; global names it (or a
    function, class or comprehension in it) reads without binding them; names it reads at top level and
    binds too (``x = f(x)`` needs an earlier ``x``; a loop variable does not)."""
    table = symtable.symtable(source, "<cell>", "exec")
    bound = {s.get_name() for s in table.get_symbols()
             if s.is_assigned() or s.is_imported() or s.is_namespace()}
    rebound = {s.get_name() for s in table.get_symbols() if s.is_referenced() and s.get_name() in bound}
    free: set[str] = set()

    def visit(t: symtable.SymbolTable, top: bool) -> None:
        for s in t.get_symbols():
            name = s.get_name()
            if top:
                if s.is_referenced() and name not in bound:
                    free.add(name)
            elif s.is_referenced() and s.is_global() and name not in bound:
                free.add(name)
        for child in t.get_children():
            visit(child, False)

    visit(table, True)
    return bound, free - _BUILTINS, rebound - _BUILTINS


@dataclass(frozen=True)
class _Statement:
    cell: int
    first: int       # first line (0-based) in the cell
    last: int        # last line (0-based, inclusive)
    bound: frozenset
    free: frozenset
    rebound: frozenset


def _python(source: str, where: str) -> str:
    """``source`` with IPython's ``%magic`` and ``!shell`` lines blanked (they are not Python); ValueError
    naming ``where`` when the rest is not valid Python either."""
    lines = ["" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines()]
    text = "\n".join(lines) + ("\n" if source.endswith("\n") else "")
    try:
        ast.parse(text)
    except SyntaxError as err:
        raise ValueError(f"{where}: not valid Python ({err.msg}, line {err.lineno})") from None
    return text


def _statements(source: str, cell: int, where: str) -> list[_Statement]:
    source = _python(source, where)
    lines = source.splitlines()
    out = []
    for node in ast.parse(source).body:
        first = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])]) - 1
        text = "\n".join(lines[first:node.end_lineno])
        bound, free, rebound = _scope_names(text)
        out.append(_Statement(cell, first, node.end_lineno - 1, frozenset(bound), frozenset(free),
                              frozenset(rebound)))
    return out


def _setup_source(cells: list[dict], exercise_cells: list[int], needs: dict[int, set[str]],
                  name: str) -> str:
    """The chapter's statements that the exercises need, in the chapter's order (a slice of the code).

    ``needs[i]``: the names exercise cell ``i`` reads from the chapter.  Each name is taken from the last
    statement before its reader that binds it; that statement's own needs are followed the same way
    (a name it reads and binds again, ``x = f(x)``, only when an earlier statement binds it).
    Statements that only change an object (``model.eval()``) are not followed: the autograded solved
    notebook is what shows that the slice suffices.
    """
    statements = [s for i, c in enumerate(cells) if c.get("cell_type") == "code" and i not in exercise_cells
                  for s in _statements(_source_text(c.get("source", "")), i, f"{name}, cell {i}")]
    chosen: set[_Statement] = set()
    todo = [(name_, cell, 10 ** 9, True) for cell in exercise_cells for name_ in sorted(needs[cell])]
    while todo:
        wanted, cell, line, required = todo.pop()
        before = [s for s in statements if wanted in s.bound and (s.cell, s.last) < (cell, line)]
        if not before:
            if not required:
                continue
            raise ValueError(f"{name}: the exercises read `{wanted}` (cell {cell}), which no earlier "
                             f"cell of the chapter defines")
        source = before[-1]
        if source not in chosen:
            chosen.add(source)
            todo.extend((n, source.cell, source.first, True) for n in sorted(source.free))
            todo.extend((n, source.cell, source.first, False) for n in sorted(source.rebound))
    blocks = []
    for s in sorted(chosen, key=lambda s: (s.cell, s.first)):
        lines = _source_text(cells[s.cell]["source"]).splitlines()[s.first:s.last + 1]
        blocks.append("\n".join(line.rstrip() for line in lines))
    return "\n".join(blocks)


# ---------------------------------------------------------------------------------------------
# One exercise cell: the check call moved into a test cell
# ---------------------------------------------------------------------------------------------
def _split_exercise(source: str, where: str) -> tuple[str, str, str, set[str]]:
    """``(number, solution, test, needs)`` of an exercise cell whose last statement is its check call."""
    source = _python(source, where)
    tree = ast.parse(source)
    last = tree.body[-1] if tree.body else None
    call = last.value if isinstance(last, ast.Expr) and isinstance(last.value, ast.Call) else None
    if call is None or not isinstance(call.func, ast.Name) or not _CHECK.match(call.func.id):
        raise ValueError(f"{where}: the exercise cell does not end with a check call such as "
                         f"`check_4_1(answer)`; nbgrader-course moves that call into the autograded "
                         f"test cell")
    checker = call.func.id
    number = ".".join(_CHECK.match(checker).groups())
    arguments = [ast.get_source_segment(source, a) for a in call.args]
    arguments += [ast.get_source_segment(source, k) for k in call.keywords]
    module = "llm_book.exercises"
    drop = set(range(last.lineno - 1, last.end_lineno))
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and any(a.name == checker for a in node.names):
            module = node.module
            if all(_CHECK.match(a.name) for a in node.names):  # only checkers: it moves to the test cell
                drop |= set(range(node.lineno - 1, node.end_lineno))
    lines = [line for i, line in enumerate(source.splitlines()) if i not in drop]
    solution = "\n".join(lines).strip("\n") + "\n"
    public = f"{checker}({', '.join([*arguments, 'strict=True'])})"
    hidden = f"{checker}({', '.join([*arguments, 'strict=True', 'hidden=True'])})"
    test = (f"from {module} import {checker}\n\n{public}\n"
            f"### BEGIN HIDDEN TESTS\n{hidden}\n### END HIDDEN TESTS\n")
    _, needs, _ = _scope_names(solution + "\n" + test)
    return number, solution, test, needs


def _fenced(code: str) -> str:
    lines = [line for line in code.strip("\n").splitlines() if line.strip() != "# NBVAL_IGNORE_OUTPUT"]
    return "```python\n" + "\n".join(lines) + "\n```"


def _statement(cells: list[dict], start: int, end: int, number: str, where: str) -> tuple[str, int]:
    """The Markdown statement of exercise ``number``: from its ``**Exercise N (...)`` in cells
    ``start..end-1`` to the exercise cell; code cells on the way become code blocks. Also its points."""
    marker = re.compile(r"\*\*Exercise " + re.escape(number) + r"\b")
    first = None
    for i in range(end - 1, start - 1, -1):
        cell = cells[i]
        if cell.get("cell_type") == "markdown" and marker.search(_source_text(cell.get("source", ""))):
            first = i
            break
    if first is None:
        raise ValueError(f"{where}: no statement `**Exercise {number} (...)` in the Markdown before the "
                         f"exercise cell")
    text = _source_text(cells[first]["source"])
    parts = [text[marker.search(text).start():].strip("\n")]
    for cell in cells[first + 1:end]:
        source = _source_text(cell.get("source", ""))
        if cell.get("cell_type") == "markdown":
            parts.append(source.strip("\n"))
        elif cell.get("cell_type") == "code" and source.strip():
            parts.append(_fenced(source))
    statement = "\n\n".join(parts) + "\n"
    found = re.match(r"\*\*Exercise " + re.escape(number) + r"\s*\(\s*([A-Za-z]+)", parts[0])
    level = found.group(1).lower() if found else None
    if level not in POINTS:
        raise ValueError(f"{where}: the statement of Exercise {number} names no difficulty that gives "
                         f"points ({level!r}); write `**Exercise {number} (easy|medium|harder...)**`")
    return statement, POINTS[level]


# ---------------------------------------------------------------------------------------------
# A chapter's assignment notebook
# ---------------------------------------------------------------------------------------------
def _nbgrader(grade_id: str, *, solution: bool = False, grade: bool = False, locked: bool = True,
              points: int | None = None) -> dict:
    meta = {"grade": grade, "grade_id": grade_id, "locked": locked, "schema_version": SCHEMA_VERSION,
            "solution": solution, "task": False}
    if points is not None:
        meta["points"] = points
    return {"nbgrader": meta}


def _cell(kind: str, grade_id: str, source: str, **nbgrader) -> dict:
    cell = {"cell_type": kind, "id": grade_id.replace("_", "-"), "metadata": _nbgrader(grade_id, **nbgrader),
            "source": source.splitlines(keepends=True)}
    if kind == "code":
        cell.update(execution_count=None, outputs=[])
    return cell


def _title(cells: list[dict], fallback: str) -> str:
    for cell in cells:
        if cell.get("cell_type") == "markdown":
            found = re.search(r"^#\s+(.+)$", _source_text(cell.get("source", "")), re.M)
            if found:
                return found.group(1).strip()
    return fallback


def chapter_assignment(nb: dict, path: Path, link: str | None = None) -> Assignment | None:
    """The assignment of one chapter (None when it has no exercises).

    Args:
        nb: the chapter notebook as JSON data.
        path: its path (names the notebook and the assignment: ``04_mathematics`` -> ``ch04_mathematics``).
        link: where readers find the chapter (a URL), named in the title cell.

    Raises:
        ValueError: a solution in a Markdown cell, an exercise cell without a final check call, a
            statement without a difficulty, or a name the exercises read that the chapter never defines;
            the message names the notebook and the cell.
    """
    name = str(path)
    cells = nb["cells"]
    exercise_cells = [i for i, c in enumerate(cells) if has_solution(c)]
    if not exercise_cells:
        return None
    for i in exercise_cells:
        if cells[i].get("cell_type") != "code":
            raise ValueError(f"{name}, cell {i}: a solution in a Markdown cell; nbgrader-course grades code "
                             f"exercises only (grade written answers with a manually graded cell)")
    exercises, needs, provided, previous = [], {}, set(), 0
    for i in exercise_cells:
        where = f"{name}, cell {i}"
        number, solution, test, free = _split_exercise(_source_text(cells[i]["source"]), where)
        statement, points = _statement(cells, previous, i, number, where)
        exercises.append(Exercise(number, points, statement, solution, test))
        needs[i] = free - provided
        provided |= _scope_names(solution)[0]
        previous = i + 1
    setup = _setup_source(cells, exercise_cells, needs, name)
    title = _title(cells, path.stem)
    chapter = f"[{title}]({link})" if link else f"*{title}* (`{path.name}`)"
    total = sum(e.points for e in exercises)
    intro = (f"# Exercises: {title}\n\n"
             f"The exercises of the chapter {chapter} of LLM Book, {len(exercises)} of them for {total} "
             f"points. Read the chapter first: the statements refer to it, and the chapter's code they show "
             f"appears here as code blocks (run it in the chapter).\n\n"
             f"Run the setup cell, then for each exercise replace `raise NotImplementedError(...)` by your "
             f"answer and run the cell after it: its check prints ✅, or stops with an `AssertionError` "
             f"whose message is a hint. When your work is graded, the same checks run again, and also on "
             f"inputs you have not seen.\n")
    out = [_cell("markdown", "intro", intro)]
    if setup:
        out.append(_cell("code", "setup", f"# Setup: what the exercises use from the chapter (run it first)\n"
                                          f"{setup}\n"))
    for e in exercises:
        out.append(_cell("markdown", f"{e.grade_id}_statement", e.statement))
        out.append(_cell("code", f"{e.grade_id}_solution", e.solution, solution=True, locked=False))
        out.append(_cell("code", f"{e.grade_id}_tests", e.test, grade=True, points=e.points))
    metadata = {"kernelspec": nb.get("metadata", {}).get("kernelspec",
                                                          {"display_name": "Python 3", "language": "python",
                                                           "name": "python3"}),
                "language_info": {"name": "python"}}
    notebook = {"cells": out, "metadata": metadata, "nbformat": 4, "nbformat_minor": 5}
    return Assignment(f"ch{path.stem}", path.name, tuple(exercises), notebook)


def _repository_link(book: Path, notebook: str) -> str | None:
    """The chapter's address in the book's repository, from ``_config.yml`` beside the book (or None)."""
    config = book.resolve().parent / "_config.yml"
    try:
        import yaml
        repository = yaml.safe_load(config.read_text(encoding="utf-8")).get("repository", {})
        url, branch = repository["url"].rstrip("/"), repository.get("branch", "main")
    except Exception:  # no configuration, or not one we can read: name the notebook instead
        return None
    return f"{url}/blob/{branch}/{book.resolve().name}/{notebook}"


def _dump(nb: dict) -> str:
    return json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def nbgrader_course(book: Path, course_dir: Path, *, force: bool = False,
                    course_id: str = COURSE_ID) -> list[Assignment]:
    """Write the nbgrader course of the book into ``course_dir``; returns the assignments written.

    Args:
        book: the folder of the chapter notebooks.
        course_dir: the course folder (created if missing); it may not be inside the book or contain it.
        force: replace an existing ``source/`` folder that is not empty (its assignments are rewritten,
            other files in it are left alone); without it such a folder is refused.
        course_id: nbgrader's course id.

    Raises:
        ValueError: see :func:`chapter_assignment`; a bad ``book`` or ``course_dir``; a non-empty
            ``source/`` without ``force``.  Nothing is written until every chapter has been read.
    """
    book, course_dir = Path(book), Path(course_dir)
    if not book.is_dir():
        raise ValueError(f"`book` ({book}) is not a folder; pass --book with the folder of the chapters")
    notebooks = sorted(book.glob("*.ipynb"))
    if not notebooks:
        raise ValueError(f"`book` ({book}) holds no notebooks; run from the repository root "
                         f"or pass --book with the folder of the chapters")
    if course_dir.exists() and not course_dir.is_dir():
        raise ValueError(f"`course_dir` ({course_dir}) is a file, not a folder")
    if _is_same_or_inside(course_dir, book):
        raise ValueError(f"`course_dir` ({course_dir}) is inside the book ({book}); the course holds the "
                         f"solutions and nbgrader's database: choose a folder outside the book")
    if course_dir.exists() and _is_same_or_inside(book, course_dir):
        raise ValueError(f"`course_dir` ({course_dir}) contains the book ({book}); choose a folder outside it")
    source = course_dir / "source"
    if source.is_dir() and any(source.iterdir()) and not force:
        raise ValueError(f"`course_dir` ({course_dir}) already has a source/ folder that is not empty; "
                         f"pass --force to rewrite its assignments (nothing else in the course is touched)")
    assignments = []
    for path in notebooks:
        assignment = chapter_assignment(_read_notebook(path), path, _repository_link(book, path.name))
        if assignment is not None:
            assignments.append(assignment)
    if not assignments:
        raise ValueError(f"`book` ({book}) has no exercises (no cell with `### BEGIN SOLUTION`)")
    course_dir.mkdir(parents=True, exist_ok=True)
    config = CONFIG_TEMPLATE.format(course_id=course_id, timeout=TIMEOUT_S, stub=STUB)
    (course_dir / "nbgrader_config.py").write_text(config, encoding="utf-8")
    for a in assignments:
        folder = source / a.name
        folder.mkdir(parents=True, exist_ok=True)
        (folder / a.notebook).write_text(_dump(a.nb), encoding="utf-8")
    return assignments


# ---------------------------------------------------------------------------------------------
# The command line: python -m llm_book.classroom nbgrader-course COURSE_DIR [--book book/] [--force]
# ---------------------------------------------------------------------------------------------
def add_command(sub) -> None:
    """Add the ``nbgrader-course`` sub-command to ``llm_book.classroom``'s parser (``sub``: its sub-parsers)."""
    command = sub.add_parser("nbgrader-course",
                             help="write an nbgrader course: one autograded assignment per chapter")
    command.add_argument("course_dir", type=Path, help="the course folder (created if missing)")
    command.add_argument("--book", type=Path, default=Path("book"),
                         help="folder of the chapter notebooks (default: book)")
    command.add_argument("--force", action="store_true",
                         help="rewrite the assignments of an existing, non-empty source/ folder")
    command.set_defaults(run=_command)


def _command(args) -> int:
    assignments = nbgrader_course(args.book, args.course_dir, force=args.force)
    exercises = sum(len(a.exercises) for a in assignments)
    points = sum(a.points for a in assignments)
    print(f"wrote {len(assignments)} assignments with {exercises} exercises ({points} points) and "
          f"nbgrader_config.py to {args.course_dir}")
    for a in assignments:
        print(f"  {a.name}: {len(a.exercises)} exercises, {a.points} points")
    print(f"next: cd {args.course_dir} && nbgrader generate_assignment ASSIGNMENT")
    return 0
