"""`twoface ui`: the local web app."""

from __future__ import annotations

import argparse
import sys

from twoface.cli.common import (
    EXIT_OK,
    Terminated,
    check_device,
    signing_options,
    store_options,
)
from twoface.errors import UsageError


def add_parser(sub) -> None:
    u = sub.add_parser("ui", help="a local web app: upload, pick faces, swap, download")
    u.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    u.add_argument("--port", type=int, default=7860, help="port (7860)")
    u.add_argument(
        "--max-upload-mb", type=int, default=512, metavar="N", help="largest upload (512 MiB)"
    )
    u.add_argument(
        "--runtime", default="onnxruntime", choices=["onnxruntime", "torch"], help=argparse.SUPPRESS
    )
    u.add_argument("--device", metavar="DEV", help="PyTorch device for zoo models")
    signing_options(u)
    store_options(u)


def _ui(args) -> int:
    from twoface.ui.server import Settings, serve

    if args.device:
        check_device(args.device)
    if not 0 < args.port < 65536:
        raise UsageError(f"--port {args.port}: not a port number")
    if args.max_upload_mb < 1:
        raise UsageError("--max-upload-mb must be at least 1")
    from twoface.config import OutputConfig
    from twoface.io.credentials import check_signing

    # The certificate checked (or the install's key made) before the port opens: one line, exit.
    check_signing(OutputConfig(sign_cert=args.sign_cert, sign_key=args.sign_key), args.models_dir)
    settings = Settings(
        sign_cert=args.sign_cert,
        sign_key=args.sign_key,
        host=args.host,
        port=args.port,
        max_upload_mb=args.max_upload_mb,
        models_dir=args.models_dir,
        offline=args.offline,
        runtime=args.runtime,
        device=args.device,
    )
    # serve() opens the port before printing anything: a port in use is one line, exit 2.
    try:
        serve(settings)
    except OSError as e:
        raise UsageError(f"cannot listen on {args.host}:{args.port} ({e.strerror or e})") from None
    except (Terminated, KeyboardInterrupt):
        pass
    # The usual way to stop a server (Ctrl-C, SIGTERM; serve() also returns when the signal was
    # caught but not re-raised, as where SIGINT is ignored): say so plainly.
    print("twoface ui: stopped; uploads and results removed", file=sys.stderr)
    return EXIT_OK


run = _ui
