"""Checkers for the exercises at the end of each chapter.

``check_<chapter>_<n>(answer)`` runs the reader's answer (usually a function)
on inputs of its own, prints one friendly line - right, or a hint of what is
off - and returns a ``Verdict`` that is true when the answer is right.
Checkers test behaviour, never the text of the code, and never print the
solution.  An answer that raises (for example the ``NotImplementedError``
stub of the student edition) gets a hint, not a crash.

One module per chapter holds that chapter's checkers; all are importable
from here: ``from llm_book.exercises import check_4_2``.
"""

from llm_book.exercises._checking import Verdict
from llm_book.exercises.chapter4 import check_4_1, check_4_2, check_4_3, check_4_4

__all__ = ["Verdict", "check_4_1", "check_4_2", "check_4_3", "check_4_4"]
