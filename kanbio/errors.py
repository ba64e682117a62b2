"""One exception type for bad input, rendered as a single line naming file, record and problem."""

from __future__ import annotations


class InputError(ValueError):
    """Bad user input: the CLI prints ``str(err)`` on one line and exits non-zero.

    A :class:`ValueError`, as scikit-learn expects of a bad argument.

    Parameters
    ----------
    problem : what is wrong, in a few words.
    path : the file concerned, if any.
    record : the record (protein id, window id, config key, ...), if any.
    line : 1-based line number in ``path``, if known.
    """

    def __init__(
        self,
        problem: str,
        path: str | None = None,
        record: str | None = None,
        line: int | None = None,
    ) -> None:
        self.problem = problem
        self.path = None if path is None else str(path)
        self.record = record
        self.line = line
        super().__init__(self.render())

    def render(self) -> str:
        where = []
        if self.path is not None:
            where.append(self.path + (f":{self.line}" if self.line is not None else ""))
        if self.record is not None:
            where.append(f"record '{self.record}'")
        prefix = ", ".join(where)
        text = f"{prefix}: {self.problem}" if prefix else self.problem
        return " ".join(text.split())  # always one line


def one_line(err: BaseException) -> str:
    """``str(err)`` on one line (an OSError's text can hold line breaks or be empty)."""
    text = " ".join(str(err).split())
    return text or type(err).__name__
