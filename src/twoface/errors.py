"""User-facing errors. Each carries the process exit code the CLI returns for it."""


class TwofaceError(Exception):
    """A problem the user can fix; its message is one line that names the file and the problem."""

    exit_code = 1


class UsageError(TwofaceError):
    """The command line asks for something impossible (bad option, bad output path). Exit code 2."""

    exit_code = 2


class InputError(TwofaceError):
    """An input file is missing, unreadable, or holds no usable face. Exit code 3."""

    exit_code = 3


class ModelError(TwofaceError):
    """A model file is missing, corrupt, not the model it claims, or could not be fetched. Exit 4."""

    exit_code = 4
