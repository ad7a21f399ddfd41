"""Checkers for the exercises at the end of each chapter.

``check_<chapter>_<n>(answer)`` runs the reader's answer (usually a function)
on inputs of its own, prints one friendly line - right, or a hint of what is
off - and returns a ``Verdict`` that is true when the answer is right.
Checkers test behaviour, never the text of the code, and never print the
solution.  An answer that raises (for example the ``NotImplementedError``
stub of the student edition), returns something malformed, or never returns
(stopped after ``set_time_limit`` seconds, 60 by default) gets a hint, not a
crash.  A checker leaves the global random generators and torch's settings
as it found them.

One module per chapter holds that chapter's checkers; all are importable
from here: ``from llm_book.exercises import check_4_2``.
"""

from llm_book.exercises._checking import Verdict, set_time_limit
from llm_book.exercises.chapter1 import check_1_1, check_1_2, check_1_3, check_1_4, check_1_5, check_1_6
from llm_book.exercises.chapter2 import check_2_1, check_2_2, check_2_3, check_2_4, check_2_5, check_2_6
from llm_book.exercises.chapter3 import (check_3_1, check_3_2, check_3_3, check_3_4, check_3_5, check_3_6,
                                         check_3_7, check_3_8)
from llm_book.exercises.chapter4 import (check_4_1, check_4_2, check_4_3, check_4_4, check_4_5, check_4_6,
                                         check_4_7, check_4_8)
from llm_book.exercises.chapter5 import (check_5_1, check_5_2, check_5_3, check_5_4, check_5_5, check_5_6,
                                         check_5_7, check_5_8, check_5_9, check_5_10, check_5_11, check_5_12)
from llm_book.exercises.chapter6 import (check_6_1, check_6_2, check_6_3, check_6_4, check_6_5, check_6_6,
                                         check_6_7, check_6_8, check_6_9, check_6_10, check_6_11, check_6_12)
from llm_book.exercises.chapter7 import check_7_1, check_7_2, check_7_3, check_7_4, check_7_5
from llm_book.exercises.chapter8 import check_8_1, check_8_2, check_8_3, check_8_4, check_8_5
from llm_book.exercises.chapter10 import check_10_1, check_10_2, check_10_3, check_10_4, check_10_5
from llm_book.exercises.chapter11 import check_11_1, check_11_2, check_11_3, check_11_4, check_11_5, check_11_6
from llm_book.exercises.chapter12 import check_12_1, check_12_2, check_12_3, check_12_4, check_12_5

__all__ = ["Verdict", "set_time_limit", "check_1_1", "check_1_2", "check_1_3", "check_1_4", "check_1_5",
           "check_1_6", "check_2_1", "check_2_2", "check_2_3", "check_2_4", "check_2_5", "check_2_6",
           "check_3_1", "check_3_2", "check_3_3", "check_3_4", "check_3_5", "check_3_6", "check_3_7",
           "check_3_8", "check_4_1", "check_4_2", "check_4_3", "check_4_4", "check_4_5", "check_4_6",
           "check_4_7", "check_4_8", "check_5_1", "check_5_2", "check_5_3", "check_5_4", "check_5_5",
           "check_5_6", "check_5_7", "check_5_8", "check_5_9", "check_5_10", "check_5_11", "check_5_12",
           "check_6_1", "check_6_2", "check_6_3", "check_6_4", "check_6_5", "check_6_6", "check_6_7",
           "check_6_8", "check_6_9", "check_6_10", "check_6_11", "check_6_12", "check_7_1", "check_7_2",
           "check_7_3", "check_7_4", "check_7_5", "check_8_1", "check_8_2", "check_8_3", "check_8_4",
           "check_8_5", "check_10_1", "check_10_2", "check_10_3", "check_10_4", "check_10_5", "check_11_1",
           "check_11_2", "check_11_3", "check_11_4", "check_11_5", "check_11_6",
           "check_12_1", "check_12_2", "check_12_3", "check_12_4", "check_12_5"]
