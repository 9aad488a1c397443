"""The machine-readable "AI-generated" label: XMP with IPTC digitalSourceType, plus EXIF text.

Written into every output; `read_label` finds it again by scanning the file for the XMP packet
(which works for JPEG APP1, PNG iTXt, WebP XMP chunks, TIFF tag 700 and video containers alike)
and falls back to EXIF ImageDescription. The signed, tamper-evident form of the same label is a
C2PA manifest (`twoface.io.credentials`); a Label carries what the writers need to embed it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from twoface.io.credentials import Credentials

IPTC_BASE = "http://cv.iptc.org/newscodes/digitalsourcetype/"
# A face swap is a composite: the target photo with a generated face put into it.
COMPOSITE_SYNTHETIC = "compositeSynthetic"  # model-free (classical) edit
COMPOSITE_TRAINED = "compositeWithTrainedAlgorithmicMedia"  # a learned model made the face
SIDECAR_SUFFIX = ".xmp"  # for formats with no metadata container (BMP)
# The IPTC digital source types that say "made or changed by an algorithm" -- only these count
# as the synthetic-media label (a camera's "digitalCapture" XMP is not one).
SYNTHETIC_TYPES = frozenset(
    {
        "trainedAlgorithmicMedia",
        "compositeWithTrainedAlgorithmicMedia",
        "compositeSynthetic",
        "algorithmicMedia",
    }
)
# Where a label is looked for: XMP sits near the start (JPEG APP1, PNG iTXt before the pixels,
# TIFF) or at the end (WebP chunks); the middle of a large file is pixels.
SCAN_BYTES = 16 << 20
MAX_PACKET = 1 << 20
_OPEN, _CLOSE = b"<x:xmpmeta", b"</x:xmpmeta>"
_TYPE_RE = re.compile(r"DigitalSourceType[^>]*?(?:>|=\")\s*([^<\"]+)")
_TOOL_RE = re.compile(r"CreatorTool[^>]*?(?:>|=\")\s*([^<\"]+)")
_OP_RE = re.compile(r"twoface:Operation[^>]*?(?:>|=\")\s*([^<\"]+)")


@dataclass(frozen=True, slots=True)
class Label:
    source_type: str  # IPTC digitalSourceType code, e.g. "compositeSynthetic"
    tool: str  # "twoface 0.1.0"
    operation: str = "face swap"
    # The signed C2PA manifest to embed as well (twoface.io.credentials); None: XMP alone.
    credentials: Credentials | None = field(default=None, compare=False, repr=False)

    @property
    def description(self) -> str:
        return f"AI-generated ({self.operation}) by {self.tool}; IPTC digitalSourceType {self.source_type}"


def make_label(
    source_type: str = COMPOSITE_SYNTHETIC,
    operation: str = "face swap",
    credentials: Credentials | None = None,
) -> Label:
    from twoface import __version__

    return Label(
        source_type=source_type,
        tool=f"twoface {__version__}",
        operation=operation,
        credentials=credentials,
    )


def xmp_packet(label: Label) -> bytes:
    xml = f"""<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about=""
    xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/"
    xmlns:xmp="http://ns.adobe.com/xap/1.0/"
    xmlns:dc="http://purl.org/dc/elements/1.1/"
    xmlns:twoface="https://github.com/twoface/twoface/ns/1.0/">
   <Iptc4xmpExt:DigitalSourceType>{IPTC_BASE}{label.source_type}</Iptc4xmpExt:DigitalSourceType>
   <xmp:CreatorTool>{label.tool}</xmp:CreatorTool>
   <twoface:AIGenerated>True</twoface:AIGenerated>
   <twoface:Operation>{label.operation}</twoface:Operation>
   <dc:description><rdf:Alt><rdf:li xml:lang="x-default">{label.description}</rdf:li></rdf:Alt></dc:description>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
<?xpacket end="w"?>"""
    return xml.encode("utf-8")


def xmp_packets(data: bytes):
    """The `<x:xmpmeta ...</x:xmpmeta>` packets in `data`, found in one linear pass: each search
    resumes after the last closing tag, so a file of many openings and no closing is not
    scanned again from every opening."""
    pos = 0
    while (start := data.find(_OPEN, pos)) >= 0:
        end = data.find(_CLOSE, start)
        if end < 0:
            return  # no closing tag anywhere after: no more packets
        if end - start <= MAX_PACKET:
            yield data[start : end + len(_CLOSE)]
        pos = end + len(_CLOSE)


def parse_xmp(data: bytes) -> Label | None:
    for packet in xmp_packets(data):
        text = packet.decode("utf-8", "replace")
        kind = _TYPE_RE.search(text)
        if not kind:
            continue
        source_type = kind.group(1).strip().rsplit("/", 1)[-1]
        if source_type not in SYNTHETIC_TYPES:
            continue  # e.g. a camera's digitalCapture: provenance, but not an AI label
        tool = _TOOL_RE.search(text)
        op = _OP_RE.search(text)
        return Label(
            source_type=source_type,
            tool=tool.group(1).strip() if tool else "unknown tool",
            operation=op.group(1).strip() if op else "edit",
        )
    return None


def scan_regions(path: Path, window: int = SCAN_BYTES) -> bytes:
    """The bytes where metadata lives: the whole file if small, else its first and last
    `window` bytes (joined by a separator no tag can span)."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        if size <= 2 * window:
            return f.read()
        head = f.read(window)
        f.seek(size - window)
        return head + b"\0" + f.read(window)


_EXIF_RE = re.compile(
    r"AI-generated \((?P<op>[^)]+)\) by (?P<tool>.+?); IPTC digitalSourceType (?P<t>\w+)"
)


def parse_description(text: str) -> Label | None:
    m = _EXIF_RE.search(text or "")
    if not m or m["t"] not in SYNTHETIC_TYPES:
        return None
    return Label(source_type=m["t"], tool=m["tool"], operation=m["op"])


def read_label(path: str | Path) -> tuple[Label | None, list[str]]:
    """The label of a file and where it was found ("XMP", "EXIF", "sidecar XMP")."""
    path = Path(path)
    found: list[str] = []
    label = parse_xmp(scan_regions(path))
    if label:
        found.append("XMP")
    exif_label = _exif_label(path)
    if exif_label:
        found.append("EXIF")
        label = label or exif_label
    comment_label = _gif_comment_label(path)
    if comment_label:
        found.append("GIF comment")
        label = label or comment_label
    sidecar = path.with_name(path.name + SIDECAR_SUFFIX)
    if sidecar.is_file():
        side = parse_xmp(scan_regions(sidecar))
        if side:
            found.append("sidecar XMP")
            label = label or side
    return label, found


def _exif_label(path: Path) -> Label | None:
    try:
        from PIL import Image

        with Image.open(path) as im:
            desc = im.getexif().get(0x010E)
    except Exception:  # not an image Pillow knows: no EXIF label
        return None
    return parse_description(desc if isinstance(desc, str) else "")


def _gif_comment_label(path: Path) -> Label | None:
    if path.suffix.lower() != ".gif":
        return None
    try:
        from PIL import Image

        with Image.open(path) as im:
            comment = im.info.get("comment", b"")
    except Exception:  # not a GIF Pillow can read: no label there
        return None
    if isinstance(comment, bytes):
        comment = comment.decode("utf-8", "replace")
    return parse_description(comment)
