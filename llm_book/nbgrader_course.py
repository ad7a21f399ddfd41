"""An nbgrader course made from the book: one assignment per chapter with exercises.

``python -m llm_book.classroom nbgrader-course COURSE_DIR [--book book/] [--force] [--chapter-url T]`` writes

* ``COURSE_DIR/nbgrader_config.py`` (course id, the course folder as ``CourseDirectory.root``,
  120 s a cell while autograding, the book's own stub in place of a solution), and
* ``COURSE_DIR/source/<assignment>/<chapter>.ipynb`` for every chapter with exercises, e.g.
  ``source/ch04_mathematics/04_mathematics.ipynb``.

An assignment notebook holds the chapter's exercises only, so that autograding takes seconds:

1. a title and a note naming the chapter (locked); with ``--chapter-url`` it links to the chapter's page
   (a student site), never to the notebooks with solutions; it says how to install the package on one's
   own machine (``pip install "llm-book[classroom] @ git+URL"``, the URL read from the Colab cell);
2. the chapter's Colab cell (tagged ``colab-setup``; locked, not graded): it installs ``llm_book`` inside
   Google Colab only;
3. a setup cell (locked): the statements of the chapter that the exercises use (imports, the toy
   language, a model...), found by reading the chapter's code, statement by statement, plus the names
   a statement asks the student to run (``STATEMENT_NAMES``);
4. for every exercise: its statement (Markdown, locked; code that the statement discusses, such as
   the buggy function of a find-the-bug exercise, is shown in it as a code block, except for the
   ``RUNNABLE`` exercises, whose code follows as locked, ungraded code cells that the setup prepares;
   ``REWORDED`` replaces "the next cell" and the like by where the code is), a solution cell
   (the exercise cell without its check call; nbgrader ``solution``, the answer between
   ``### BEGIN SOLUTION`` and ``### END SOLUTION``) and an autograded test cell (``grade``,
   ``locked``, ``points``) that calls the chapter's checker in strict mode, then again, between
   ``### BEGIN HIDDEN TESTS`` and ``### END HIDDEN TESTS``, on inputs the student never saw
   (``HIDDEN_CHECKS`` says which, in a comment there; the exercises of ``PUBLIC_ONLY`` have no inputs
   to vary and no hidden part);
5. for an exercise that asks a question in words (the book has a ``<details>`` answer after it, the
   statement asks "why?", "say what", "explain", "predict what each", "in words", "what do you expect",
   or it is one of ``WRITTEN_PREDICTIONS``), a Markdown answer cell, graded by hand and worth 0
   points (``solution``, ``grade``, ``points: 0``): the checkers grade the code, a written answer has no
   automatic check, and 0 points keep the autograded total final without a manual pass; the book's
   answer is the model answer between the solution markers, which nbgrader removes from the release.

Points come from the difficulty the statement names: easy 1, medium 2, harder 3.  grade_ids are
``ex4_1_statement``, ``ex4_8_code``, ``ex4_1_solution``, ``ex4_1_tests``, ``ex4_1_answer`` (plus ``intro``,
``colab_setup`` and ``setup``), the same on
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

from llm_book.classroom import _book_notebooks, _check_outside_book, _read_notebook, _source_text, has_solution

POINTS = {"easy": 1, "medium": 2, "harder": 3, "hard": 3}
"""Points of an exercise by the first word of its difficulty, ``**Exercise 4.4 (medium, ...)**``."""

# What the hidden part of each test cell checks (``hidden=True``), for the teacher: "other random inputs"
# means every random input drawn from another seed; "one more ..." the public cases plus the one(s) named.
HIDDEN_CHECKS = {
    '1.1': 'one more training run: 1.3B parameters, 26B tokens, 64 GPUs of 125 TFLOP/s at 45%',
    '1.2': 'one more size: vocab 777, block 128, 5 layers, width 96',
    '1.3': 'one more budget: 2.4e22 FLOPs',
    '1.4': 'one more router: a = 5, b = 1.25, n = 6',
    '1.5': 'other random inputs (other seeds): tokens and router weights',
    '1.6': 'one more model: a made-up 16x2B Mixtral (50,000 words, width 2,048, 24 layers, top-4)',
    '2.1': "one more context word: 'The'",
    '2.2': 'other random inputs (other seeds): the random GPT the embeddings come from',
    '2.3': 'other random inputs (other seeds): other clusters and noise, trained and tested',
    '2.4': 'other random inputs (other seeds): the batch',
    '2.5': 'one more case: c = 2, N = 9, V = 12, k = 0.25',
    '2.6': 'other random inputs (other seeds): the shuffled labels',
    '3.1': 'other random inputs (other seeds): x and the weights',
    '3.2': "one more prompt: 'The dogs', 5 new tokens",
    '3.3': 'other random inputs (other seeds): logits',
    '3.4': 'other random inputs (other seeds): the two batches of vectors',
    '3.5': 'one more vocabulary size: 1,000',
    '3.6': 'other random inputs (other seeds): the encoder, the batch and the masking generator',
    '3.7': 'one more case: N = 5, temperature 0.7',
    '3.8': 'other random inputs (other seeds): q, k, v',
    '4.1': "one more sentence: 'The dogs sat under the mat <eos>'",
    '4.2': 'other random inputs (other seeds): X',
    '4.3': 'one more list of probabilities [0.3, 0.05, 0.6] (the prediction `halved_factor` is the same question)',
    '4.4': 'other random inputs (other seeds): X and its changed later rows',
    '4.5': 'one more case for each function ((32, 1.5, 0.5); scale (20, 3, 0.75)); the measurement from another seed',
    '4.6': 'one more case: entropy 1.5, vocabulary 20, 0.25 extra nats',
    '4.7': 'other random inputs (other seeds): q, k, v',
    '4.8': "a third sentence in the batch: 'The dogs sat under the mat <eos>'",
    '5.1': 'other random inputs (other seeds): q, k, v',
    '5.2': 'one more size: vocab 50, block 8, 2 layers, width 40',
    '5.3': "other random inputs (other seeds): the layer's weights and x",
    '5.4': 'one more size: T = 12, 4 heads of 6',
    '5.5': 'a second schedule: lr 3e-4, 4 warm-up steps, 30 steps, min_lr 1e-5 (8 steps)',
    '5.7': 'one more batch: sentences of 5, 6 and 13 tokens, block 14',
    '5.8': 'one more text: 100,000 characters, batch 16, block 64',
    '5.9': 'other random inputs (other seeds): logits',
    '5.10': 'other random inputs (other seeds): logits (the fixed hand-made cases stay)',
    '5.11': 'one more run: batch 2, prompt 3, 4 new tokens, 4 heads, width 32',
    '5.12': 'one more cache: 2 layers, width 48, float64',
    '6.1': 'one more example: prompt [5, 17, 3], completion [8, 9]',
    '6.2': "other random inputs (other seeds): the old table; the reader's own draws run under another global seed",
    '6.3': 'one more batch: prompts of 4, 9, 2 and completions of 6, 2, 8 tokens',
    '6.4': 'one more batch of two examples',
    '6.5': 'other random inputs (other seeds): the sentence embeddings',
    '6.6': 'other random inputs (other seeds): the sentence embeddings',
    '6.7': 'other random inputs (other seeds): the sentence embeddings',
    '6.9': 'two more pairs: a repeated word (n = 1), a bigram case (n = 2)',
    '6.12': 'a fourth corpus: a repeated word and a shorter hypothesis',
    '7.1': 'one more case: [4, 4, 2, 4, 4, 4] merging (4, 4)',
    '7.2': 'one more sequence: [9, 3, 9, 3, 3, 9, 3, 1]',
    '7.3': "other random inputs (other seeds): c_attn's weight and bias",
    '7.4': "one more text: 'banana bandana cabana; a banana band', 5 merges",
    '8.1': 'other random inputs (other seeds): the noise on the measured losses (numpy)',
    '8.2': 'other random inputs (other seeds): predictions and outcomes (numpy)',
    '8.3': 'one more pair of distributions (half the mass on a word the language never uses)',
    '8.4': 'other random inputs (other seeds): the true logits and the sampled targets of the over- and '
           'under-confident models',
    '8.5': 'other random inputs (other seeds): the noise on both measured power laws (numpy)',
    '10.1': 'one more case: target 0.75, K = 5, V = 6',
    '10.2': 'one more case: n = 5, K = 6, V = 4',
    '10.3': 'one more case: m = 3, n = 6, K = 5, V = 7',
    '10.4': 'other random inputs (other seeds): the merged activations',
    '10.5': 'one more case: 5 pairs, K = 6, V = 7',
    '11.1': 'one more conversation: system, user, assistant, user',
    '11.2': 'one more conversation: a system message and one exchange',
    '11.3': 'one more pair, where the sum and the mean disagree',
    '11.4': 'other random inputs (other seeds): the log-probabilities of three batches',
    '11.5': 'one more case: loss 0.2, beta 0.25',
    '11.6': 'one more case: p = 0.8, beta 0.3',
    '12.1': 'other random inputs (other seeds): x and the positions',
    '12.2': 'one more configuration: 4 layers, 8 heads of 16, 4 key/value heads',
    '12.3': 'other random inputs (other seeds): x, dy, A, B',
    '12.4': 'two more matrices: 128 x 32 in groups of 8; 7 x 9 with one scale per row',
}
# Exercises without inputs of their own to vary: their test cell has the public checks only (a hidden
# part would repeat them), and the reason.
PUBLIC_ONLY = {
    '5.6': "a measurement of two fixed training runs of the chapter's recipe",
    '6.8': "a prediction about the chapter's fixed document (no inputs)",
    '6.10': 'the public cases are already every place, preposition and article of the grammar',
    '6.11': 'a prediction of four BLEU numbers for fixed sentences (no inputs)',
    '7.5': "a prediction of token counts for the chapter's fixed tokenizer and texts (no inputs)",
    '12.5': 'the reader finds the input (no inputs)',
}

DEFAULT_HIDDEN = "the same checks with hidden=True (other seeds; extra cases where the checker has them)"
"""What the hidden part says for an exercise missing from both tables (a new exercise)."""
NO_MODEL_ANSWER = "*(The book gives no written answer to this question.)*"
# A statement that asks for words, not only code: "... and why?", "say what ... would do wrong", "explain".
_PROSE = re.compile(r"\band why\?|\bwhy\?|\b[Ss]ay what\b|\b[Ee]xplain\b|\b[Pp]redict\s+what\s+each\b|"
                    r"\bin words\b|\b[Ww]hat do you expect\b")
WRITTEN_PREDICTIONS = frozenset({"3.6", "4.7", "6.7"})
"""Exercises whose statement asks for a prediction in words (not a number the code checks): they get an
answer cell even where ``_PROSE`` does not match ("*Predict first:* what will this encoder do ...")."""
ANSWER_CELL_INTRO = ("**Your answer** to the questions in words above (your teacher reads it; 0 points: the "
                     "test cell grades the code):")

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
    answers: tuple[str, ...] = ()  # the book's answers to the questions in words (Markdown), if any
    demos: tuple[str, ...] = ()    # code of the statement to run (RUNNABLE), locked cells after it

    @property
    def hidden(self) -> str | None:
        """What the hidden part of the test cell checks (None: public checks only, see PUBLIC_ONLY)."""
        return None if self.number in PUBLIC_ONLY else HIDDEN_CHECKS.get(self.number, DEFAULT_HIDDEN)

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


def _mentioned_names(statement: str) -> set[str]:
    """The names a statement writes in inline code (`` `render_chat(conversation)` ``): not attributes
    (``.x``), not keywords argument names (``x=``) and not code blocks' contents."""
    text = re.sub(r"```.*?```", "", statement, flags=re.S)
    names = set()
    for span in re.findall(r"`([^`\n]+)`", text):
        names.update(m.group(1) for m in re.finditer(r"(?<![.\w])([A-Za-z_]\w*)\b(?!\s*=[^=])", span))
    return names - _BUILTINS


STATEMENT_NAMES = {
    "4.8": ("tokenizer", "model"),
    "11.2": ("render_chat", "conversation", "assistant_mask"),
    "12.4": ("quantize_model", "toy_model", "model_bytes", "exact_kl"),
}
"""Names of the chapter that a statement asks the student to run (`` `render_chat(conversation)` ``) but
the solution does not read: the setup defines them too.  Listed, not guessed: a statement's inline code
names many things (``X``, ``model``) whose definitions in the chapter train, print or draw."""

MAX_MENTIONED_LINES = 12
"""At most this many lines of the chapter's code come into the setup for a name a statement only mentions
(`` `render_chat(conversation)` ``); a longer computation, one that prints or draws, or a name shorter than
3 characters (``X``, ``T``) is left out."""
_SIDE_EFFECTS = re.compile(r"\b(?:print|display|plt|fig|ax|axes|show|savefig|tqdm)\b|^\s*for\b|^\s*while\b", re.M)


def _follow(statements: list[_Statement], todo: list, chosen: set, name: str) -> set:
    """``chosen`` plus the statements that bind the names in ``todo`` ((name, cell, line, required)) and,
    in turn, what those read; a new set (``chosen`` is not changed).  ValueError: a required name that no
    earlier statement binds."""
    chosen = set(chosen)
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
    return chosen


def _setup_source(cells: list[dict], exercise_cells: list[int], needs: dict[int, set[str]],
                  name: str, mentioned: dict[int, set[str]] | None = None) -> str:
    """The chapter's statements that the exercises need, in the chapter's order (a slice of the code).

    ``needs[i]``: the names exercise cell ``i`` reads from the chapter.  Each name is taken from the last
    statement before its reader that binds it; that statement's own needs are followed the same way
    (a name it reads and binds again, ``x = f(x)``, only when an earlier statement binds it).
    Statements that only change an object (``model.eval()``) are not followed: the autograded solved
    notebook is what shows that the slice suffices.
    """
    statements = [s for i, c in enumerate(cells) if c.get("cell_type") == "code" and i not in exercise_cells
                  for s in _statements(_source_text(c.get("source", "")), i, f"{name}, cell {i}")]
    chosen = _follow(statements, [(n, cell, 10 ** 9, True) for cell in exercise_cells for n in sorted(needs[cell])],
                     set(), name)
    # Names a statement shows in inline code (`render_chat(conversation)`): set up too when the chapter
    # defines them before the exercise and what they need (each name on its own; one that cannot be set
    # up is left out, the statement then shows the chapter's code).
    for cell in exercise_cells:
        for wanted in sorted((mentioned or {}).get(cell, ())):
            try:
                more = _follow(statements, [(wanted, cell, 10 ** 9, False)], chosen, name)
            except ValueError:
                continue
            added = more - chosen
            text = "\n".join(_statement_text(cells, s) for s in added)
            if len(wanted) >= 3 and len(text.splitlines()) <= MAX_MENTIONED_LINES \
                    and not _SIDE_EFFECTS.search(text):
                chosen = more
    return "\n".join(_statement_text(cells, s) for s in sorted(chosen, key=lambda s: (s.cell, s.first)))


def _statement_text(cells: list[dict], s: _Statement) -> str:
    lines = _source_text(cells[s.cell]["source"]).splitlines()[s.first:s.last + 1]
    return "\n".join(line.rstrip() for line in lines)


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
    test = f"from {module} import {checker}\n\n{public}\n"
    if number not in PUBLIC_ONLY:
        test += (f"### BEGIN HIDDEN TESTS\n# hidden: {HIDDEN_CHECKS.get(number, DEFAULT_HIDDEN)}\n{hidden}\n"
                 f"### END HIDDEN TESTS\n")
    _, needs, _ = _scope_names(solution + "\n" + test)
    return number, solution, test, needs


_SUMMARY = re.compile(r"<details\b[^>]*>\s*(?:<summary>(.*?)</summary>)?(.*?)</details\s*>", re.S | re.I)
_NEXT_PART = re.compile(r"\*\*Exercise \d+\.\d+|\*\*Going further|^#{1,6}[ \t]", re.M)


def _prose_answers(cells: list[dict], cell: int, next_exercise: int) -> tuple[str, ...]:
    """The book's answers (``<details>`` blocks) to the questions in words of the exercise whose cell is
    ``cell``: in the Markdown after it, up to the next exercise's statement, a heading or *Going further*."""
    answers = []
    for c in cells[cell + 1:next_exercise]:
        if c.get("cell_type") != "markdown":
            continue
        text = _source_text(c.get("source", ""))
        stop = _NEXT_PART.search(text)
        for summary, body in _SUMMARY.findall(text[:stop.start()] if stop else text):
            title = f"**{summary.strip()}.** " if summary and summary.strip() else ""
            answers.append(title + body.strip())
        if stop:
            break
    return tuple(answers)


def _fenced(code: str) -> str:
    lines = [line for line in code.strip("\n").splitlines() if line.strip() != "# NBVAL_IGNORE_OUTPUT"]
    return "```python\n" + "\n".join(lines) + "\n```"


RUNNABLE = frozenset({"4.8", "6.4", "6.7", "6.12"})
"""Exercises whose statement ends with code the student is meant to run (a buggy function and the cell
that prints what goes wrong): that code becomes locked, ungraded code cells after the statement, and the
setup defines what it reads.  The code of the other statements is only to be read (or trains a model, as
in 3.6): it stays a code block."""

REWORDED = {
    "1.5": [("the six of the demo above", "the six tokens of the chapter's demo")],
    "3.5": [("The cell below then measures", "In the chapter, a cell after the exercise then measures")],
    "3.6": [("Then run the next cell, which trains", "The code below (the chapter runs it; here it is only "
             "shown, since it trains a model) trains")],
    "3.8": [("the next cell runs", "the code below (run in the chapter) runs")],
    "4.7": [("in the next cell", "in the code below")],
    "4.8": [("in the next cell", "in the code cell below (run it)")],
    "6.4": [("(next cell)", "(the code cell below, run it)")],
    "6.7": [("in the next cell", "in the code cell below (run it)")],
    "6.12": [("in the next cell", "in the code cell below (run it)")],
    "10.4": [("fix them in the cell below", "fix them in the solution cell below")],
}
"""Words of a statement that point to the chapter's cells ("the next cell"), replaced by where the code is
in the assignment (line breaks in the book match any space); a replacement that no longer matches the book
is an error (the statement changed)."""


def _statement(cells: list[dict], start: int, end: int, number: str, where: str) -> tuple[str, int, list]:
    """The Markdown statement of exercise ``number``: from its ``**Exercise N (...)`` in cells
    ``start..end-1`` to the exercise cell; code cells on the way become code blocks, or, for ``RUNNABLE``
    exercises whose code cells end the statement, ``(cell index, code)`` pairs to run.  Also its points."""
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
    demos: list[tuple[int, str]] = []
    runnable = number in RUNNABLE
    for i, cell in enumerate(cells[first + 1:end], first + 1):
        source = _source_text(cell.get("source", ""))
        if cell.get("cell_type") == "markdown":
            if demos and source.strip():
                raise ValueError(f"{where}: Exercise {number} is in RUNNABLE, but Markdown follows its code; "
                                 f"its code cells have to end the statement")
            parts.append(source.strip("\n"))
        elif cell.get("cell_type") == "code" and source.strip():
            if runnable:
                demos.append((i, source.strip("\n") + "\n"))
            else:
                parts.append(_fenced(source))
    if runnable and not demos:
        raise ValueError(f"{where}: Exercise {number} is in RUNNABLE, but its statement has no code cell")
    statement = "\n\n".join(parts) + "\n"
    for old, new in REWORDED.get(number, ()):
        pattern = re.compile(r"\s+".join(map(re.escape, old.split())))
        if not pattern.search(statement):
            raise ValueError(f"{where}: the statement of Exercise {number} no longer says {old!r}; "
                             f"update REWORDED")
        statement = pattern.sub(lambda _: new, statement, count=1)
    # "The next cell" of the chapter is the test cell here: say where that cell is.
    statement = re.sub(r"\bThe next cell\b", "In the chapter, the cell after this exercise", statement)
    found = re.match(r"\*\*Exercise " + re.escape(number) + r"\s*\(\s*([A-Za-z]+)", parts[0])
    level = found.group(1).lower() if found else None
    if level not in POINTS:
        raise ValueError(f"{where}: the statement of Exercise {number} names no difficulty that gives "
                         f"points ({level!r}); write `**Exercise {number} (easy|medium|harder...)**`")
    return statement, POINTS[level], demos


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
    exercises, needs, mentioned, provided, previous, demo_cells = [], {}, {}, set(), 0, []
    for n, i in enumerate(exercise_cells):
        where = f"{name}, cell {i}"
        number, solution, test, free = _split_exercise(_source_text(cells[i]["source"]), where)
        statement, points, demos = _statement(cells, previous, i, number, where)
        answers = _prose_answers(cells, i, exercise_cells[n + 1] if n + 1 < len(exercise_cells) else len(cells))
        exercises.append(Exercise(number, points, statement, solution, test, answers,
                                  tuple(code for _, code in demos)))
        for d, code in demos:  # the statement's code runs before the solution: the setup defines what it reads
            bound, free_demo, _ = _scope_names(_python(code, f"{name}, cell {d}"))
            needs[d] = free_demo - provided
            mentioned[d] = set()
            provided |= bound
            demo_cells.append(d)
        needs[i] = free - provided
        mentioned[i] = (_mentioned_names(statement) & set(STATEMENT_NAMES.get(number, ()))) - provided - needs[i]
        provided |= _scope_names(solution)[0]
        previous = i + 1
    colab = next((_source_text(c.get("source", "")).strip("\n") + "\n" for c in cells
                  if c.get("cell_type") == "code" and "colab-setup" in c.get("metadata", {}).get("tags", [])), "")
    url = re.search(r"git\+(https?://[^\s\"']+)", colab)
    install = (f" On your own machine, install the book's package first: "
               f"`pip install \"llm-book[classroom] @ git+{url.group(1)}\"`; in Google Colab the first code cell "
               f"does it." if url else "")
    setup = _setup_source(cells, sorted(exercise_cells + demo_cells), needs, name, mentioned)
    title = _title(cells, path.stem)
    chapter = f"[{title}]({link})" if link else f"*{title}*"
    total = sum(e.points for e in exercises)
    hidden = sum(1 for e in exercises if e.hidden)
    again = ("and also on inputs you have not seen" if hidden == len(exercises) else
             f"and, for {hidden} of the {len(exercises)} exercises, also on inputs you have not seen"
             if hidden else "on the same inputs")
    words = (" Some exercises also ask questions in words: write those answers in the Markdown cell "
             "after their test (your teacher reads them; they carry no points)." if any(e.answers for e in exercises)
             else "")
    intro = (f"# Exercises: {title}\n\n"
             f"The exercises of the chapter {chapter} of LLM Book, {len(exercises)} of them for {total} "
             f"points. Read the chapter first: the statements refer to it, and the chapter's code they show "
             f"appears here as code blocks, or as locked code cells to run where a statement says so; the "
             f"setup cell defines what the exercises use from the chapter.\n\n"
             f"Run the setup cell{'s' if colab else ''}, then for each exercise replace "
             f"`raise NotImplementedError(...)` by your "
             f"answer and run the cell after it: its check prints ✅, or stops with an `AssertionError` "
             f"whose message is a hint. When your work is graded, the same checks run again, {again}."
             f"{words}{install}\n")
    out = [_cell("markdown", "intro", intro)]
    if colab:
        out.append(_cell("code", "colab_setup", colab))
    if setup:
        out.append(_cell("code", "setup", f"# Setup: what the exercises use from the chapter (run it first)\n"
                                          f"{setup}\n"))
    for e in exercises:
        out.append(_cell("markdown", f"{e.grade_id}_statement", e.statement))
        for k, code in enumerate(e.demos, 1):
            suffix = "" if len(e.demos) == 1 else f"_{k}"
            out.append(_cell("code", f"{e.grade_id}_code{suffix}",
                             "# The statement's code: run it (locked, not graded)\n" + code))
        out.append(_cell("code", f"{e.grade_id}_solution", e.solution, solution=True, locked=False))
        out.append(_cell("code", f"{e.grade_id}_tests", e.test, grade=True, points=e.points))
        if e.answers or _PROSE.search(e.statement) or e.number in WRITTEN_PREDICTIONS:
            # A manually graded answer cell, 0 points; the book's written answer, if any, is the model answer.
            model = "\n\n".join(e.answers) or NO_MODEL_ANSWER
            answer = f"{ANSWER_CELL_INTRO}\n\n### BEGIN SOLUTION\n{model}\n### END SOLUTION\n"
            out.append(_cell("markdown", f"{e.grade_id}_answer", answer, solution=True, grade=True,
                             locked=False, points=0))
    metadata = {"kernelspec": nb.get("metadata", {}).get("kernelspec",
                                                          {"display_name": "Python 3", "language": "python",
                                                           "name": "python3"}),
                "language_info": {"name": "python"}}
    notebook = {"cells": out, "metadata": metadata, "nbformat": 4, "nbformat_minor": 5}
    return Assignment(f"ch{path.stem}", path.name, tuple(exercises), notebook)


def _check_chapter_url(chapter_url: str | None) -> None:
    if chapter_url is None:
        return
    if not isinstance(chapter_url, str) or "{chapter}" not in chapter_url \
            or not re.match(r"^https?://\S+$", chapter_url) or re.search(r"\{(?!chapter\})", chapter_url):
        raise ValueError(f"`chapter_url` (={chapter_url!r}) has to be a web address with `{{chapter}}` where "
                         f"the chapter's name goes, e.g. https://example.org/book/{{chapter}}.html (the student "
                         f"site's pages), and no other braces")


def _dump(nb: dict) -> str:
    return json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def nbgrader_course(book: Path, course_dir: Path, *, force: bool = False,
                    course_id: str = COURSE_ID, chapter_url: str | None = None) -> list[Assignment]:
    """Write the nbgrader course of the book into ``course_dir``; returns the assignments written.

    Args:
        book: the folder of the chapter notebooks.
        course_dir: the course folder (created if missing); it may not be inside the book or contain it.
        force: replace an existing ``source/`` folder that is not empty (its assignments are rewritten,
            other files in it are left alone); without it such a folder is refused.
        course_id: nbgrader's course id.
        chapter_url: where students read the chapters, ``{chapter}`` standing for the notebook's name
            (``https://example.org/book/{chapter}.html`` for a student site); the intro links there.
            Without it the intro names the chapter only: never a link to the notebooks with solutions.

    Raises:
        ValueError: see :func:`chapter_assignment`; a bad ``book`` or ``course_dir``; a non-empty
            ``source/`` without ``force``.  Nothing is written until every chapter has been read.
    """
    book, course_dir = Path(book), Path(course_dir)
    _check_chapter_url(chapter_url)
    notebooks = _book_notebooks(book)
    _check_outside_book(course_dir, book, "course_dir", "the course holds the solutions and nbgrader's "
                        "database: choose a folder outside the book")
    source = course_dir / "source"
    if source.is_dir() and any(source.iterdir()) and not force:
        raise ValueError(f"`course_dir` ({course_dir}) already has a source/ folder that is not empty; "
                         f"pass --force to rewrite its assignments (nothing else in the course is touched)")
    assignments = []
    for path in notebooks:
        link = chapter_url.replace("{chapter}", path.stem) if chapter_url else None
        assignment = chapter_assignment(_read_notebook(path), path, link)
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
    command.add_argument("--chapter-url", default=None, metavar="TEMPLATE",
                         help="where students read each chapter, {chapter} for its name, e.g. "
                              "https://example.org/book/{chapter}.html (default: the chapter is named, "
                              "not linked)")
    command.set_defaults(run=_command)


def _command(args) -> int:
    assignments = nbgrader_course(args.book, args.course_dir, force=args.force, chapter_url=args.chapter_url)
    exercises = sum(len(a.exercises) for a in assignments)
    points = sum(a.points for a in assignments)
    print(f"wrote {len(assignments)} assignments with {exercises} exercises ({points} points) and "
          f"nbgrader_config.py to {args.course_dir}")
    for a in assignments:
        print(f"  {a.name}: {len(a.exercises)} exercises, {a.points} points")
    print(f"next: cd {args.course_dir} && nbgrader generate_assignment ASSIGNMENT")
    return 0
