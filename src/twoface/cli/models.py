"""`twoface models`: list, download, get, import, verify and unpin model files."""

from __future__ import annotations

import json

from twoface.cli.common import (
    EXIT_OK,
    Parser,
    store_options,
)
from twoface.errors import UsageError


def add_parser(sub) -> None:
    m = sub.add_parser("models", help="list, download, import and verify model files")
    store_options(m)
    ms = m.add_subparsers(dest="action", required=True, parser_class=Parser)
    ml = ms.add_parser("list", help="the catalogue: what runs, licences, which files are here")
    ml.add_argument("--json", action="store_true")
    md = ms.add_parser("download", help="fetch files (resumable; size and sha256 checked)")
    md.add_argument("names", nargs="+", metavar="NAME")
    mg = ms.add_parser(
        "get",
        help="download, showing each licence first; --recommended: the learned swap set",
    )
    mg.add_argument("names", nargs="*", metavar="NAME")
    mg.add_argument(
        "--recommended",
        action="store_true",
        help="the recommended learned set: swapper, its identity encoder, detector, face "
        "parser, occluder and restorer (`twoface models list` shows each)",
    )
    mi = ms.add_parser("import", help="register a file you already have")
    mi.add_argument("file", metavar="FILE")
    mi.add_argument(
        "--like",
        metavar="ENTRY",
        help="your own model (e.g. from `twoface train export`) with ENTRY's architecture, "
        "installed under --name",
    )
    mi.add_argument(
        "--name",
        metavar="NAME",
        help="catalogue name it is (default: recognised by its sha256)",
    )
    mv = ms.add_parser("verify", help="re-hash cached files against the catalogue or pins")
    mv.add_argument("names", nargs="*", metavar="NAME")
    mv.add_argument("--json", action="store_true")
    mp = ms.add_parser("path", help="print where a model file is (exit 4 if missing)")
    mp.add_argument("name", metavar="NAME")
    mu = ms.add_parser(
        "unpin", help="forget the digest pinned for a model (and delete its cached file)"
    )
    mu.add_argument("name", metavar="NAME")
    for action in (ml, md, mg, mi, mv, mp, mu):
        store_options(action)


def _runnable(catalogue) -> set[str]:
    """The store's catalogue names twoface can run today: those whose architecture is a
    registered component (twoface.registry, through twoface.build)."""
    from twoface.build import runs_today

    return {name for name in catalogue if runs_today(name, catalogue)}


LIST_LEGEND = (
    "* file present   runs: yes = twoface runs it today, no = catalogued only   "
    "NC = non-commercial licence   sha256: catalogue (published) or pin (first download)"
)


def _models(args) -> int:
    from twoface.zoo.store import ModelStore, progress_bar

    store = ModelStore(args.models_dir, offline=args.offline)
    if args.action == "list":
        runnable = _runnable(store.catalogue)
        rows = []
        for e in store.catalogue.values():
            st = store.status(e)
            rows.append(
                {
                    "name": e.name,
                    "task": e.task,
                    "arch": e.arch,
                    "format": e.format,
                    "file": e.filename,
                    "runs": e.name in runnable,
                    "size": e.size,
                    "sha256": e.sha256,
                    "hash": "catalogue" if e.sha256 else "pinned on first download",
                    "hash_source": e.source or None,
                    "licence": e.licence,
                    "non_commercial": e.non_commercial,
                    "urls": list(e.urls),
                    "input": {
                        "size": e.preprocess.size,
                        "template": e.preprocess.template,
                        "colour": e.preprocess.colour,
                        "mean": list(e.preprocess.mean),
                        "std": list(e.preprocess.std),
                    },
                    "present": st.present,
                    "path": str(st.path),
                }
            )
        if args.json:
            print(json.dumps({"models_dir": str(store.models_dir), "models": rows}, indent=2))
        else:
            print(f"models in {store.models_dir}")
            print(
                f"   {'name':<30} {'task':<13} {'format':<11} {'size':>11}  runs sha256    licence"
            )
            for r in rows:
                mark = "*" if r["present"] else " "
                size = f"{r['size'] / 1e6:8.1f} MB" if r["size"] else "       ? MB"
                runs = "yes " if r["runs"] else "no  "
                sha = "catalogue" if r["sha256"] else "pin      "
                nc = "NC" if r["non_commercial"] else "  "
                print(
                    f" {mark} {r['name']:<30} {r['task']:<13} {r['format']:<11} {size}  "
                    f"{runs} {sha} {nc}"
                )
            print(LIST_LEGEND)
        return EXIT_OK
    if args.action == "get":
        return _models_get(args, store)
    if args.action == "download":
        entries = [store.entry(n) for n in args.names]
        for e in entries:
            path = store.download(e, progress=progress_bar(e.name))
            how = "sha256 checked" if e.sha256 else "sha256 pinned (first download)"
            print(f"{e.name}: {path} ({how})")
        return EXIT_OK
    if args.action == "import":
        name, path = store.import_file(args.file, args.name, like=args.like)
        print(f"{name}: {path}")
        return EXIT_OK
    if args.action == "path":
        print(store.find(args.name))
        return EXIT_OK
    if args.action == "unpin":
        removed = store.unpin(args.name)
        print(f"{args.name}: " + (f"removed {', '.join(removed)}" if removed else "nothing pinned"))
        return EXIT_OK
    names = args.names or [e.name for e in store.catalogue.values() if store.path(e).is_file()]
    results = [store.status(store.entry(n), rehash=True) for n in names]
    if args.json:
        print(json.dumps([{"name": r.name, "state": r.state, "detail": r.detail} for r in results]))
    else:
        for r in results:
            print(f"{r.name}: {r.state}" + (f" ({r.detail})" if r.detail else ""))
        if not results:
            print(f"no model files in {store.models_dir}")
    bad = [r for r in results if r.state in ("corrupt", "missing")]
    return 4 if bad else EXIT_OK


def _models_get(args, store) -> int:
    """`twoface models get [NAME...] [--recommended]`: `download`, with every licence shown
    before the first byte is fetched. Resumable: the files already here are kept and a partial
    download goes on where it stopped, so after a failure the same command is run again."""
    from twoface.errors import ModelError
    from twoface.zoo.catalogue import RECOMMENDED
    from twoface.zoo.store import progress_bar

    names = list(dict.fromkeys([*args.names, *(RECOMMENDED if args.recommended else ())]))
    if not names:
        raise UsageError("models get: name the models to get, or give --recommended")
    entries = [store.entry(n) for n in names]
    here = {e.name for e in entries if store.path(e).is_file()}
    print("licences (by downloading you accept each model's terms; NC = non-commercial use only):")
    for e in entries:
        size = f"{e.size / 1e6:.0f} MB" if e.size else "size unknown"
        print(
            f"  {e.name} ({e.task}, {'already here' if e.name in here else size}): "
            f"{e.licence}{' [NC]' if e.non_commercial else ''}"
        )
    for e in entries:
        try:
            path = store.download(e, progress=progress_bar(e.name))
        except ModelError as err:
            if store.offline:
                raise
            raise ModelError(
                f"{err}; run the same command again to go on (partial downloads resume)"
            ) from None
        how = "sha256 checked" if e.sha256 else "sha256 pinned (first download)"
        print(f"{e.name}: {path} ({'already here' if e.name in here else how})")
    if args.recommended:
        print(
            "ready: `twoface swap` now runs inswapper_128 (--swapper auto); for its masks, "
            "detector and restorer add --detector scrfd_10g --mask box,occlusion,region "
            "--enhancer gfpgan_1.4_onnx"
        )
    return EXIT_OK


run = _models
