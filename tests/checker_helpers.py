"""Shared helpers for the exercise-checker tests (tests/test_exercises_chapter*.py)."""


def stub(*args):
    """What the student edition leaves in place of a solution."""
    raise NotImplementedError


def verdict(capsys, checker, answer):
    """Run a checker; check it printed exactly one line, the same as its Verdict; return (ok, line)."""
    result = checker(answer)
    line = capsys.readouterr().out.strip()
    assert "\n" not in line, "a checker prints one line"
    assert repr(result) == line
    return bool(result), line


def expect(verdict, capsys, ok: bool, *phrases: str) -> None:
    """Assert a checker's verdict, that it printed exactly one line, and that the line has ``phrases``."""
    out = capsys.readouterr().out
    assert bool(verdict) is ok, out
    assert out.count("\n") == 1, "a checker prints exactly one line"
    for phrase in phrases:
        assert phrase in out, out
