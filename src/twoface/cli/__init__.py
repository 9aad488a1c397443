"""Command line: `twoface swap | batch | eval | detect | inspect | models | bench | ui | live |
dataset | train | components`. Parsing, messages and exit codes only; each command is a module
of this package (`add_parser(sub)` and `run(args)`).

Exit codes: 0 success; 1 `inspect` found no label; 2 usage error; 3 input error; 4 model file
missing, corrupt or not downloadable; 5 the output cannot be written (disk full, no permission);
6 a batch in which some job failed; 7 `inspect` found a label whose content credentials (C2PA)
fail validation (tampered or invalid); 70 internal error (a bug: please report it; --verbose
shows the traceback); 130 interrupted (Ctrl-C); 141 the output pipe was closed (`| head`); 143
terminated (SIGTERM).
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
from collections.abc import Sequence

from twoface.cli import (
    batch,
    bench,
    components,
    detect,
    inspect,
    live,
    models,
    swap,
    train,
    ui,
)
from twoface.cli import eval as eval_
from twoface.cli.common import (
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_PIPE,
    EXIT_TERMINATED,
    Parser,
    Terminated,
    cli_message,
    on_sigterm,
    silence_stdout,
    store_options,
)
from twoface.errors import TwofaceError, UsageError

COMMANDS = (swap, batch, eval_, detect, models, bench, train, ui, live, inspect, components)


def _runner(command: str):
    """The function that runs `command` (a module's `run`; `train` runs two commands)."""
    for module in COMMANDS:
        run = module.run
        if isinstance(run, dict):
            if command in run:
                return run[command]
        elif module.__name__.rsplit(".", 1)[-1] == command:
            return run
    raise UsageError(f"unknown command {command!r}")


def parser() -> argparse.ArgumentParser:
    from twoface import __version__

    p = Parser(
        prog="twoface",
        description="Swap faces in images, videos and live cameras, offline first. Every output "
        "is labelled as AI-generated.",
    )
    p.add_argument("--version", action="version", version=f"twoface {__version__}")
    store_options(p, top=True)
    p.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="codec log lines, and a traceback for internal errors",
    )
    sub = p.add_subparsers(dest="command", required=True, parser_class=Parser)

    for module in COMMANDS:
        module.add_parser(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    from twoface.io.video import quiet_codec_logs

    verbose = False
    previous = None
    with contextlib.suppress(ValueError):  # not the main thread: leave signals alone
        previous = signal.signal(signal.SIGTERM, on_sigterm)
    try:
        args = parser().parse_args(argv)
        verbose = args.verbose
        quiet_codec_logs(verbose)
        code = _runner(args.command)(args)
        sys.stdout.flush()
        return code
    except TwofaceError as e:
        print(f"twoface: error: {cli_message(e)}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("twoface: interrupted; nothing was written", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Terminated:
        print("twoface: terminated; nothing was written", file=sys.stderr)
        return EXIT_TERMINATED
    except BrokenPipeError:
        silence_stdout()
        return EXIT_PIPE
    except MemoryError:
        print("twoface: error: out of memory (try a smaller input)", file=sys.stderr)
        return EXIT_INTERNAL
    except Exception as e:  # a bug: one line, and the traceback only when asked for
        if verbose:
            import traceback

            traceback.print_exc()
        detail = (str(e).splitlines() or [""])[0][:200]
        print(
            f"twoface: internal error: {type(e).__name__}: {detail} (please report it; "
            "--verbose shows where)",
            file=sys.stderr,
        )
        return EXIT_INTERNAL
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
