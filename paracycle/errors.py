"""Errors that reach the user as one line and exit code 2."""

from __future__ import annotations


class InputError(Exception):
    """Bad input from the user: one line saying what is wrong and where (file, field).

    The CLI prints `str(err)` to stderr and exits with code 2; no traceback.
    """

    def __init__(self, source: str, message: str, field: str | None = None):
        self.source = source
        self.field = field
        self.message = message
        where = f"{source}: {field}" if field else source
        super().__init__(f"{where}: {message}")
