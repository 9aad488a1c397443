"""`twoface inspect`: a file's synthetic-media label and its content credentials.

Two things are read: the XMP / container-metadata label (machine-readable, unsigned) and the
C2PA manifest (signed; validated by the C2PA library: every hash and the signature). The
verdict, and the exit code:

- labelled and valid (0): an AI label found, and any manifest validates;
- labelled but tampered or invalid (7): a manifest is there but fails validation (pixels or
  the manifest changed after signing, a broken signature, an expired certificate ...);
- not labelled (1): neither an XMP label nor a manifest with an AI digitalSourceType.

A manifest signed by a key no trust anchor vouches for is valid (the content is as signed), and
said to be untrusted; this install's own CA (in the model store) and `--trust FILE` are anchors.
"""

from __future__ import annotations

import json
from pathlib import Path

from twoface.cli.common import EXIT_OK, EXIT_TAMPERED, EXIT_UNLABELLED, store_options


def add_parser(sub) -> None:
    i = sub.add_parser(
        "inspect",
        help="print a file's synthetic-media label and validate its content credentials (C2PA); "
        "exit 1 if unlabelled, 7 if the credentials fail validation",
    )
    i.add_argument("path", metavar="PATH")
    i.add_argument("--json", action="store_true", help="print JSON")
    i.add_argument(
        "--trust",
        metavar="PEM",
        help="CA certificates (PEM) whose signers count as trusted (default: this install's "
        "own CA, in the model store)",
    )
    store_options(i)  # the model store whose own CA counts as trusted


def _trust(args) -> tuple[bytes | None, str | None]:
    """The trust anchors (PEM) and where they come from."""
    from twoface.io.credentials import install_ca, read_pem
    from twoface.zoo.store import default_home

    if args.trust:
        return read_pem(args.trust, "trust anchors"), args.trust
    home = Path(args.models_dir) if getattr(args, "models_dir", None) else default_home()
    ca = install_ca(home)
    if ca is None:
        return None, None
    try:
        return ca.read_bytes(), "this install's own CA"
    except OSError:
        return None, None


def _inspect(args) -> int:
    from twoface.io.credentials import read_credentials
    from twoface.io.image import check_input_file
    from twoface.io.provenance import SYNTHETIC_TYPES, read_label
    from twoface.io.video import VIDEO_EXTENSIONS, read_video_label

    path = check_input_file(args.path)
    anchors, anchored_by = _trust(args)
    if path.suffix.lower() in VIDEO_EXTENSIONS:
        # Container metadata, read by PyAV: never scan a whole video file into memory.
        label = read_video_label(path)
        where = ["container metadata"] if label else []
    else:
        label, where = read_label(path)
    creds = read_credentials(path, anchors)
    ai_manifest = creds is not None and creds.source_type in SYNTHETIC_TYPES
    if creds is not None and creds.tampered:
        status, code = "tampered", EXIT_TAMPERED
    elif label is not None or ai_manifest:
        status, code = "labelled", EXIT_OK
    else:
        status, code = "unlabelled", EXIT_UNLABELLED
    if ai_manifest:
        where = [*where, "C2PA manifest"]
    source_type = creds.source_type if ai_manifest else (label.source_type if label else None)
    if args.json:
        summary = {
            "path": str(path),
            "status": status,
            "labelled": status != "unlabelled",
            "ai_generated": label is not None or ai_manifest,
            "digital_source_type": source_type,
            "tool": label.tool if label else (creds.software if ai_manifest else None),
            "found_in": where,
            "content_credentials": None if creds is None else creds.to_json(),
        }
        if creds is not None:
            summary["content_credentials"]["trust_anchors"] = anchored_by
        print(json.dumps(summary, indent=2))
        return code
    print(_verdict(path, status, label, creds, where, source_type))
    if creds is not None:
        print(f"  content credentials (C2PA): {_credentials_line(creds, anchored_by)}")
    return code


def _verdict(path, status, label, creds, where, source_type) -> str:
    if status == "unlabelled":
        extra = ""
        if creds is not None:  # a valid manifest that says nothing of AI (a camera's)
            extra = f" (its content credentials say {creds.source_type or 'no source type'})"
        return f"{path}: not labelled: no synthetic-media label found{extra}"
    what = (
        label.description
        if label is not None
        else f"AI-generated, by {creds.software or 'unknown software'}; IPTC "
        f"digitalSourceType {source_type}"
    )
    found = ", ".join(where) or "C2PA manifest"
    if status == "tampered":
        return f"{path}: labelled but TAMPERED or invalid: {what} [{found}]"
    if creds is None:
        return f"{path}: labelled (no content credentials): {what} [{found}]"
    return f"{path}: labelled and valid: {what} [{found}]"


def _credentials_line(creds, anchored_by: str | None) -> str:
    if creds.tampered:
        return "INVALID: " + "; ".join(creds.problems)
    actions = ", ".join(creds.actions) or "no actions"
    parts = [f"valid; {actions}"]
    if creds.source_type:
        parts.append(f"digitalSourceType {creds.source_type}")
    if creds.software:
        parts.append(f"by {creds.software}")
    if creds.models:
        parts.append(f"models {', '.join(creds.models)}")
    if creds.parent:
        digest = creds.parent.get("sha256")
        parts.append(
            f"parent {creds.parent.get('title')}"
            + (f" (sha256 {digest[:16]}...)" if digest else "")
        )
    signer = creds.signer or "an unnamed signer"
    if creds.state == "trusted":
        parts.append(f"signed by {signer}, trusted ({anchored_by})")
    else:
        parts.append(f"signed by {signer}, on no trust list given (untrusted signer)")
    return "; ".join(parts)


run = _inspect
