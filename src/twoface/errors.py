"""User-facing errors. Each carries the process exit code the CLI returns for it."""

from __future__ import annotations


class TwofaceError(Exception):
    """A problem the user can fix; its message is one line that names the file and the problem.

    `field` names the API argument at fault (e.g. "similarity"), so a front end can point at its
    own control for it (the CLI at its flag) instead of the message naming one front end's words.
    """

    exit_code = 1

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class UsageError(TwofaceError):
    """The command line asks for something impossible (bad option, bad output path). Exit code 2."""

    exit_code = 2


class InputError(TwofaceError):
    """An input file is missing, unreadable, or holds no usable face. Exit code 3."""

    exit_code = 3


class ModelError(TwofaceError):
    """A model file is missing, corrupt, not the model it claims, or could not be fetched. Exit 4."""

    exit_code = 4


class OutputError(TwofaceError):
    """The output could not be written: disk full, no permission, read-only file system. Exit 5."""

    exit_code = 5
