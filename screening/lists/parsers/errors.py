"""The one error every list parser raises for bad input."""

from __future__ import annotations


class ListParseError(ValueError):
    """A list file was refused: names the file, where in it, and what is wrong.

    Importers catch it, keep the previous version active and show `str(error)` to people.
    """

    def __init__(self, file: str, location: str, problem: str) -> None:
        self.file = file
        self.location = location
        self.problem = problem
        where = f"{file}, {location}" if location else file
        super().__init__(f"{where}: {problem}")
