"""What is wrong with an input file: :class:`Problem`, and :class:`IngestError` carrying them.

Every reader in :mod:`model.io` validates at the boundary and reports what a chemist can
act on: the file, the row as a text editor or spreadsheet numbers it (1-based, header
included), the column as written in the file, and what was expected. All problems found
are reported together in one :class:`IngestError`; no other exception type escapes a
reader because of the content of a file.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NoReturn

__all__ = ["MAX_REPORTED_PROBLEMS", "IngestError", "Problem", "ProblemLog", "count_of", "fail"]

#: An error message lists at most this many problems, then says how many more there are.
MAX_REPORTED_PROBLEMS = 50


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input file.

    Parameters
    ----------
    file : str
        The file name as the user knows it.
    row : int or None
        1-based line number in the file (the header is a row too), as a text editor or
        spreadsheet shows it; None for a problem with the whole file.
    column : str or None
        The column name as written in the file; None when no single column is at fault.
    message : str
        What is wrong, what was expected and, where it is not obvious, what to do.
    """

    file: str
    row: int | None
    column: str | None
    message: str

    def __str__(self) -> str:
        where = self.file
        if self.row is not None:
            where += f", row {self.row}"
        if self.column is not None:
            where += f", column {self.column!r}"
        return f"{where}: {self.message}"


class IngestError(ValueError):
    """An input file cannot be used; ``problems`` lists every reason found.

    Parameters
    ----------
    problems : sequence of Problem
        The problems, at most :data:`MAX_REPORTED_PROBLEMS` of them.
    n_more : int
        How many further problems were found but not listed.
    """

    def __init__(self, problems: Sequence[Problem], n_more: int = 0) -> None:
        self.problems = list(problems)
        self.n_more = n_more
        lines = [str(problem) for problem in self.problems]
        if n_more:
            lines.append(f"… and {count_of(n_more, 'more problem')}; fix those above first, then load the file again.")
        super().__init__("\n".join(lines))

    def __reduce__(self):
        # Workers (joblib) pickle exceptions; the default would rebuild from the message.
        return (type(self), (self.problems, self.n_more))


class ProblemLog:
    """Collects problems of one file so that a user sees all of them at once.

    Parameters
    ----------
    file : str
        The file name used in every problem.
    limit : int or None
        The most problems kept; further ones are only counted. None keeps them all
        (for a batch, where every left-out row must be reported).
    """

    def __init__(self, file: str, limit: int | None = MAX_REPORTED_PROBLEMS) -> None:
        self.file = file
        self.limit = limit
        self.problems: list[Problem] = []
        self.n_more = 0

    def add(self, row: int | None, column: str | None, message: str) -> None:
        if self.limit is None or len(self.problems) < self.limit:
            self.problems.append(Problem(self.file, row, column, message))
        else:
            self.n_more += 1

    def raise_if_any(self) -> None:
        if self.problems:
            raise IngestError(self.problems, self.n_more)


def count_of(n: int, noun: str) -> str:
    """``"1 more problem"``, ``"3 more problems"``."""
    return f"{n} {noun}{'' if n == 1 else 's'}"


def fail(file: str, row: int | None, column: str | None, message: str) -> NoReturn:
    """Raise at once: for problems that make the rest of the file unreadable."""
    raise IngestError([Problem(file, row, column, message)])
