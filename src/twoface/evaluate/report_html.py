"""The HTML report: one self-contained file (no script, no network, nothing beside it).

A summary table, the flags, a table per face (images) or person (videos), plots drawn here as
inline SVG (identity and flicker over time), and the worst frames side by side (target | output,
zoomed on the face) as JPEG data: URIs. Its Content-Security-Policy allows nothing but its own
inline style and data: images, as the web UI's strict policy does. Every text taken from the
evaluation (file names, flags) is escaped.
"""

from __future__ import annotations

import base64
import html
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from twoface.evaluate.results import (
    MEASURES,
    Crop,
    Evaluation,
    ImageEval,
    PersonEval,
    VideoEval,
    good_values,
    ranges,
    ranges_text,
)

CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
JPEG_QUALITY = 85
STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:1100px;color:#1d2330;padding:0 16px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #dde}
table{border-collapse:collapse;margin:6px 0 12px}th,td{padding:4px 9px;border-bottom:1px solid #e4e6ee;text-align:left;vertical-align:top}
th{background:#f3f4f8;font-weight:600}td.n{text-align:right;font-variant-numeric:tabular-nums}
.bad{color:#b3261e;font-weight:600}.ok{color:#1b6e3a}.muted{color:#667}
.files code{background:#f3f4f8;padding:1px 4px;border-radius:3px}
ul.flags{background:#fff4f2;border:1px solid #f1c4bd;padding:8px 8px 8px 28px;border-radius:6px}
p.clean{background:#eef8f0;border:1px solid #bfe3c8;padding:8px;border-radius:6px}
.frames{display:flex;flex-wrap:wrap;gap:14px}figure{margin:0;border:1px solid #e4e6ee;border-radius:6px;padding:6px}
figure img{display:inline-block;margin-right:2px}figcaption{font-size:12px;max-width:420px}
svg.plot{background:#fbfbfd;border:1px solid #e4e6ee;border-radius:6px;margin:4px 0}
svg text{font:11px system-ui,sans-serif;fill:#445}
.legend span{display:inline-block;margin-right:14px;font-size:12px}.legend i{display:inline-block;width:18px;height:3px;vertical-align:middle;margin-right:4px}
"""
COLOURS = {"source": "#1f5fbf", "target": "#c77800", "output": "#b3261e", "input": "#6b7280"}


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _num(value: float | None, digits: int = 2) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def data_uri(rgb: np.ndarray) -> str:
    ok, buf = cv2.imencode(
        ".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY]
    )
    if not ok:  # pragma: no cover - OpenCV encodes any uint8 RGB image
        raise ValueError("JPEG encoding failed")
    return "data:image/jpeg;base64," + base64.b64encode(buf.tobytes()).decode("ascii")


def _page(title: str, body: str) -> str:
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)}</title><style>{STYLE}</style></head><body>\n{body}\n</body></html>\n"
    )


# -- plots ---------------------------------------------------------------------------------------
def _nice_top(value: float) -> float:
    if value <= 0:
        return 1.0
    step = 10 ** math.floor(math.log10(value))
    for k in (1, 2, 2.5, 5, 10):
        if k * step >= value:
            return k * step
    return 10 * step


def line_plot(
    name: str,
    xs: Sequence[float],
    lines: Sequence[tuple[str, Sequence[float | None], str, bool]],
    y_label: str,
    x_label: str = "seconds",
    threshold: tuple[float, str] | None = None,
    marks: Sequence[float] = (),
    width: int = 1000,
    height: int = 220,
) -> str:
    """An SVG line plot: `lines` are (label, values, colour, dashed); a value of None breaks
    the line. `threshold` draws a dashed horizontal line (value, label); `marks` are x positions
    drawn as red ticks under the axis (frames not swapped)."""
    left, right, top, bottom = 56, 14, 12, 38
    pw, ph = width - left - right, height - top - bottom
    x0 = min(xs) if xs else 0.0
    x1 = max(xs) if xs else 1.0
    x1 = x1 if x1 > x0 else x0 + 1.0
    values = [v for _, vs, _, _ in lines for v in vs if v is not None]
    if threshold is not None:
        values.append(threshold[0])
    ymax = _nice_top(max(values) * 1.05 if values else 1.0)
    ymin = min(0.0, min(values)) if values else 0.0
    if ymin < 0:
        ymin = -_nice_top(-ymin)

    def sx(x: float) -> float:
        return left + (x - x0) / (x1 - x0) * pw

    def sy(y: float) -> float:
        return top + (ymax - y) / (ymax - ymin) * ph

    parts = [
        f'<svg class="plot" data-plot="{_e(name)}" xmlns="http://www.w3.org/2000/svg" '
        f'width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img">',
        f"<title>{_e(y_label)} over time</title>",
    ]
    for k in range(5):  # horizontal grid and y ticks
        y = ymin + (ymax - ymin) * k / 4
        parts.append(
            f'<line x1="{left}" x2="{left + pw}" y1="{sy(y):.1f}" y2="{sy(y):.1f}" '
            'stroke="#e4e6ee"/>'
        )
        parts.append(f'<text x="{left - 6}" y="{sy(y) + 4:.1f}" text-anchor="end">{y:.3g}</text>')
    for k in range(6):  # x ticks
        x = x0 + (x1 - x0) * k / 5
        parts.append(
            f'<text x="{sx(x):.1f}" y="{top + ph + 16}" text-anchor="middle">{x:.3g}</text>'
        )
    parts.append(
        f'<text x="{left + pw / 2:.0f}" y="{height - 4}" text-anchor="middle">{_e(x_label)}</text>'
    )
    parts.append(
        f'<text x="12" y="{top + ph / 2:.0f}" text-anchor="middle" '
        f'transform="rotate(-90 12 {top + ph / 2:.0f})">{_e(y_label)}</text>'
    )
    parts.append(
        f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="none" stroke="#c9ccd8"/>'
    )
    if threshold is not None:
        y = sy(threshold[0])
        parts.append(
            f'<line class="threshold" x1="{left}" x2="{left + pw}" y1="{y:.1f}" y2="{y:.1f}" '
            'stroke="#333" stroke-dasharray="6 4"/>'
        )
        parts.append(
            f'<text x="{left + pw - 4}" y="{y - 4:.1f}" text-anchor="end">{_e(threshold[1])}</text>'
        )
    for x in marks:
        parts.append(
            f'<line class="mark" x1="{sx(x):.1f}" x2="{sx(x):.1f}" y1="{top + ph}" '
            f'y2="{top + ph + 6}" stroke="#b3261e" stroke-width="2"/>'
        )
    for label, vs, colour, dashed in lines:
        run: list[str] = []
        segments: list[list[str]] = []
        for x, v in zip(xs, vs, strict=True):
            if v is None:
                if run:
                    segments.append(run)
                run = []
                continue
            run.append(f"{sx(x):.1f},{sy(v):.1f}")
        if run:
            segments.append(run)
        dash = ' stroke-dasharray="4 3"' if dashed else ""
        for seg in segments:
            if len(seg) == 1:
                cx, cy = seg[0].split(",")
                parts.append(f'<circle cx="{cx}" cy="{cy}" r="2" fill="{colour}"/>')
            else:
                parts.append(
                    f'<polyline class="series" data-series="{_e(label)}" fill="none" '
                    f'stroke="{colour}" stroke-width="1.6"{dash} points="{" ".join(seg)}"/>'
                )
    parts.append("</svg>")
    legend = "".join(
        f'<span><i style="background:{c}"></i>{_e(label)}</span>' for label, _, c, _ in lines
    )
    if marks:
        legend += '<span><i style="background:#b3261e"></i>frame not swapped</span>'
    return "".join(parts) + f'<div class="legend">{legend}</div>'


# -- pieces --------------------------------------------------------------------------------------
def _files(e: Evaluation) -> str:
    rows = [
        ("source", ", ".join(e.sources)),
        ("target", e.target),
        ("output", e.output),
    ]
    items = "".join(f"<div><b>{k}</b> <code>{_e(v)}</code></div>" for k, v in rows)
    enc = e.encoder
    return (
        f'<div class="files">{items}<div><b>identity encoder</b> {_e(enc.scale)} '
        f'<span class="muted">({_e(enc.why)})</span></div></div>'
    )


def _flags(flags: list[str]) -> str:
    if not flags:
        return '<p class="clean">No flags: every measure is within its good value.</p>'
    return '<ul class="flags">' + "".join(f"<li>{_e(f)}</li>" for f in flags) + "</ul>"


def _good(limit: float | None) -> str:
    if limit is None:
        return "–"
    return "0" if limit == 0 else f"≤ {limit:g}"


def _summary_table(summary: dict[str, Any], e: Evaluation) -> str:
    good = good_values(e.params)
    rows = []
    for key, what, unit in MEASURES:
        value = summary.get(key)
        if value is None and key == "flicker_added" and isinstance(e, ImageEval):
            continue
        limit = good.get(key)
        if key == "identity_to_source":
            limit = e.encoder.same_person
        elif key == "not_swapped":
            limit = 0.0
        bad = value is not None and limit is not None and value > limit
        cls = "n bad" if bad else "n"
        shown = "–" if value is None else f"{value:.3g}"
        rows.append(
            f'<tr><td>{_e(what)}</td><td class="{cls}" data-measure="{key}">{shown}</td>'
            f"<td>{_e(unit)}</td><td>{_good(limit)}</td></tr>"
        )
    rec = summary.get("recognised_as_source")
    rows.insert(
        1,
        f'<tr><td>recognised as the source</td><td class="n" data-measure="recognised_as_source">'
        f"{'–' if rec is None else f'{100 * rec:.0f} %'}</td><td>of swapped faces</td><td>100 %</td></tr>",
    )
    rows.insert(
        2,
        f'<tr><td>identity distance to the target</td><td class="n">'
        f"{_num(summary.get('identity_to_target'), 3)}</td><td>encoder scale</td>"
        "<td>larger: less of the target left</td></tr>",
    )
    return (
        '<table class="summary"><tr><th>measure</th><th>value</th><th>unit</th><th>good</th></tr>'
        + "".join(rows)
        + "</table>"
    )


def _faces_table(e: ImageEval) -> str:
    head = (
        "<tr><th>face</th><th>swapped</th><th>changed</th><th>to source</th><th>to target</th>"
        "<th>target to source</th><th>recognised as</th><th>landmark shift</th>"
        "<th>pose target → output (yaw/pitch/roll °)</th><th>pose change °</th><th>seam</th>"
        "<th>colour anomaly</th></tr>"
    )
    rows = []
    for f in e.faces:
        i = f.identity

        def pose(p):
            return "–" if p is None else f"{p['yaw']:.0f}/{p['pitch']:.0f}/{p['roll']:.0f}"

        rows.append(
            "<tr>"
            f'<td class="n">{f.index}</td>'
            f'<td class="{"ok" if f.swapped else "bad"}">{"yes" if f.swapped else "not swapped"}</td>'
            f'<td class="n">{100 * f.changed:.0f} %</td>'
            f'<td class="n">{_num(i.to_source if i else None, 3)}</td>'
            f'<td class="n">{_num(i.to_target if i else None, 3)}</td>'
            f'<td class="n">{_num(i.target_to_source if i else None, 3)}</td>'
            f"<td>{_e(i.recognised_as) if i else '–'}</td>"
            f'<td class="n">{_num(f.landmark_shift, 3)}</td>'
            f"<td>{pose(f.pose_target)} → {pose(f.pose_output)}</td>"
            f'<td class="n">{_num(f.pose_change, 1)}</td>'
            f'<td class="n">{_num(f.seam)}</td>'
            f'<td class="n">{_num(f.colour_anomaly)}</td>'
            "</tr>"
        )
    return '<table class="faces">' + head + "".join(rows) + "</table>"


def _people_table(e: VideoEval) -> str:
    same = e.encoder.same_person
    head = (
        "<tr><th>person</th><th>frames</th><th>swapped</th><th>not swapped</th>"
        "<th>to source (mean / worst)</th><th>recognised as source</th><th>to target</th>"
        "<th>landmark shift</th><th>pose change °</th><th>seam</th><th>colour anomaly</th>"
        "<th>flicker output / input / added</th></tr>"
    )
    rows = []
    for p in e.selected():
        s = p.summary(same)
        frames, times = p.not_swapped()
        missed = ranges_text(ranges(frames, times), limit=3) if frames else "none"
        rec = s["recognised_as_source"]
        rows.append(
            "<tr>"
            f'<td class="n">{p.track}</td><td class="n">{len(p.frames)}</td>'
            f'<td class="n">{p.swapped_frames}</td>'
            f'<td class="{"bad" if frames else "ok"}">{_e(missed)}</td>'
            f'<td class="n">{_num(s["identity_to_source"], 3)} / {_num(s["identity_to_source_worst"], 3)}</td>'
            f'<td class="n">{"–" if rec is None else f"{100 * rec:.0f} %"}</td>'
            f'<td class="n">{_num(s["identity_to_target"], 3)}</td>'
            f'<td class="n">{_num(s["landmark_shift"], 3)}</td>'
            f'<td class="n">{_num(s["pose_change"], 1)}</td>'
            f'<td class="n">{_num(s["seam"])}</td>'
            f'<td class="n">{_num(s["colour_anomaly"])}</td>'
            f'<td class="n">{_num(s["flicker_output"])} / {_num(s["flicker_input"])} / '
            f"{_num(s['flicker_added'])}</td>"
            "</tr>"
        )
    others = [p for p in e.people if not p.selected]
    note = ""
    if others:
        names = ", ".join(str(p.track) for p in others[:20]) + (" …" if len(others) > 20 else "")
        note = (
            f'<p class="muted">{len(others)} other person(s) seen and not swapped '
            f"(people {_e(names)}).</p>"
        )
    return '<table class="people">' + head + "".join(rows) + "</table>" + note


def _person_plots(e: VideoEval, p: PersonEval) -> str:
    times = [
        t if t is not None else f / (e.fps or 25) for f, t in zip(p.frames, p.times, strict=True)
    ]
    s = p.series
    marks = [t for t, sw in zip(times, p.swapped, strict=True) if not sw]
    same = e.encoder.same_person
    ident = line_plot(
        f"identity-{p.track}",
        times,
        [
            ("distance to the source", s["to_source"], COLOURS["source"], False),
            ("distance to the target", s["to_target"], COLOURS["target"], True),
        ],
        f"{e.encoder.name} distance",
        threshold=(same, f"same person within {same:g}"),
        marks=marks,
    )
    flicker = line_plot(
        f"flicker-{p.track}",
        times,
        [
            ("output", s["flicker_output"], COLOURS["output"], False),
            ("input", s["flicker_input"], COLOURS["input"], True),
        ],
        "flicker (grey levels)",
        marks=marks,
    )
    drops = p.identity_drops(same)
    text = ""
    if drops[0]:
        text = (
            f'<p class="bad">Not recognised as the source: '
            f"{_e(ranges_text(ranges(drops[0], drops[1], gap=2), limit=8))}</p>"
        )
    return (
        f"<h3>Person {p.track}: identity over time</h3>{ident}{text}"
        f"<h3>Person {p.track}: flicker inside the face (mean second temporal difference)</h3>"
        f"{flicker}"
    )


def _crops(crops: list[Crop]) -> str:
    if not crops:
        return ""
    figures = []
    for c in crops:
        when = ""
        if c.frame is not None:
            when = f"frame {c.frame}" + (f" ({c.time:.2f} s)" if c.time is not None else "") + ", "
        figures.append(
            "<figure>"
            f'<img alt="target" src="{data_uri(c.target)}" width="{c.target.shape[1]}" '
            f'height="{c.target.shape[0]}">'
            f'<img alt="output" src="{data_uri(c.output)}" width="{c.output.shape[1]}" '
            f'height="{c.output.shape[0]}">'
            f"<figcaption>{_e(when)}{_e(c.who)}: {_e(c.why)}<br>"
            '<span class="muted">target | output</span></figcaption></figure>'
        )
    return '<div class="frames">' + "".join(figures) + "</div>"


LEGEND = """<h2>What the numbers mean</h2><table>
<tr><th>identity distance</th><td>the encoder's distance from the output face to the source photo (and to the target face); lower is closer, within the encoder's same-person distance counts as the same person. "Recognised as the source": within it, and closer to the source than to the target.</td></tr>
<tr><th>not swapped</th><td>under 5 % of the target face's area changed: the output shows the target there.</td></tr>
<tr><th>landmark shift</th><td>mean distance between the output's and the target's 68 landmarks, over the eye spacing: expression and position kept when small.</td></tr>
<tr><th>pose change</th><td>the angle between the target's and the output's head rotation (yaw, pitch, roll from the landmarks), degrees.</td></tr>
<tr><th>seam</th><td>gradient the output adds over the target's along the border of the changed region, grey levels per pixel: a visible edge scores high.</td></tr>
<tr><th>colour anomaly</th><td>95th percentile of the Lab chroma shift inside the face once its median shift is removed: blotches and rings score high, an even tone change 0.</td></tr>
<tr><th>flicker</th><td>mean |f(t+1) − 2 f(t) + f(t−1)| inside the face, head motion taken out; "added" is the output's over the input's.</td></tr>
</table>"""


def render(e: Evaluation) -> str:
    """The report of one output, as one HTML page."""
    title = f"twoface eval: {Path(e.output).name}"
    parts = [f"<h1>{_e(title)}</h1>", _files(e)]
    parts.append("<h2>Flags</h2>" + _flags(e.flags()))
    parts.append("<h2>Summary</h2>" + _summary_table(e.summary(), e))
    if isinstance(e, ImageEval):
        w, h = e.size
        parts.append(f"<h2>Faces ({len(e.faces)}; image {w}x{h})</h2>" + _faces_table(e))
        if e.crops:
            parts.append("<h2>Faces side by side</h2>" + _crops(e.crops))
    else:
        w, h = e.size
        fps = f", {e.fps:.2f} fps" if e.fps else ""
        every = f"; identity measured every {e.every} frames" if e.every > 1 else ""
        parts.append(f"<h2>People ({e.frames} frames, {w}x{h}{fps}{every})</h2>" + _people_table(e))
        for p in e.selected():
            parts.append(_person_plots(e, p))
        if e.crops:
            parts.append("<h2>Worst frames</h2>" + _crops(e.crops))
    parts.append(LEGEND)
    parts.append(f'<p class="muted">Measured in {e.seconds:.1f} s.</p>')
    return _page(title, "\n".join(parts))


def render_comparison(c) -> str:
    """The ranking of several outputs of one source and target."""
    first = c.evaluations[0]
    title = f"twoface eval: {len(c.evaluations)} outputs of {Path(first.target).name} compared"
    keys = c.measures()
    names = {k: what for k, what, _ in MEASURES}
    head = (
        "<tr><th>rank</th><th>output</th><th>mean rank</th>"
        + "".join(f"<th>{_e(names[k])}</th>" for k in keys)
        + "<th>flags</th></tr>"
    )
    by_output = {e.output: e for e in c.evaluations}
    rows = []
    for entry in c.ranking():
        s = entry["summary"]
        cells = "".join(
            f'<td class="n">{"–" if s.get(k) is None else f"{s[k]:.3g}"} '
            f'<span class="muted">#{entry["ranks"][k]}</span></td>'
            for k in keys
        )
        flags = len(by_output[entry["output"]].flags())
        rows.append(
            f'<tr><td class="n">{entry["rank"]}</td><td><code>{_e(entry["output"])}</code></td>'
            f'<td class="n">{entry["mean_rank"]:.2f}</td>{cells}<td class="n">{flags}</td></tr>'
        )
    what = "faces" if isinstance(first, ImageEval) else "people"
    parts = [
        f"<h1>{_e(title)}</h1>",
        f'<div class="files"><div><b>source</b> <code>{_e(", ".join(first.sources))}</code></div>'
        f"<div><b>target</b> <code>{_e(first.target)}</code></div>"
        f"<div><b>identity encoder</b> {_e(first.encoder.scale)}</div>"
        f"<div><b>judged on {what}</b> {_e(', '.join(map(str, sorted(c.focus))) or 'none')}</div></div>",
        '<h2>Ranking</h2><table class="ranking">' + head + "".join(rows) + "</table>",
        '<p class="muted">Lower is better on every measure; #n is the output\'s rank on it.</p>',
    ]
    for e in c.evaluations:
        parts.append(f"<h2>{_e(e.output)}</h2>" + _flags(e.flags()) + _crops(e.crops[:2]))
    parts.append(LEGEND)
    return _page(title, "\n".join(parts))


def render_index(rows: list[dict[str, Any]], folder: str | os.PathLike) -> str:
    """A batch's index: one row per job (its report linked by a relative name)."""
    title = f"twoface batch: {len(rows)} quality report(s)"
    head = (
        "<tr><th>job</th><th>output</th><th>report</th><th>to source</th>"
        "<th>recognised as source</th><th>not swapped</th><th>seam</th><th>colour anomaly</th>"
        "<th>flags</th></tr>"
    )
    out = []
    for n, r in enumerate(rows, start=1):
        s = r.get("summary") or {}
        link = (
            f'<a href="{_e(r["report"])}">{_e(r["report"])}</a>'
            if r.get("report")
            else f'<span class="bad">{_e(r.get("error", "no report"))}</span>'
        )
        rec = s.get("recognised_as_source")
        out.append(
            f'<tr><td class="n">{n}</td><td><code>{_e(r["output"])}</code></td><td>{link}</td>'
            f'<td class="n">{_num(s.get("identity_to_source"), 3)}</td>'
            f'<td class="n">{"–" if rec is None else f"{100 * rec:.0f} %"}</td>'
            f'<td class="n">{_num(s.get("not_swapped"))}</td>'
            f'<td class="n">{_num(s.get("seam"))}</td>'
            f'<td class="n">{_num(s.get("colour_anomaly"))}</td>'
            f'<td class="n">{r.get("flags", "–")}</td></tr>'
        )
    body = (
        f'<h1>{_e(title)}</h1><p class="muted">Folder {_e(folder)}</p>'
        '<table class="index">' + head + "".join(out) + "</table>"
    )
    # The index links to files beside it: its policy lets links be followed, nothing loaded.
    return _page(title, body)
