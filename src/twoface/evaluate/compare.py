"""`twoface eval --compare OUT1 OUT2 ...`: outputs of one source and target (by different swappers
or settings) measured alike and ranked.

Every output is judged on the same faces (images: those any output swapped) or people (videos:
those any output swapped, tracked on the shared target, so person 2 is the same person in each),
so an output that left a face unswapped pays for it in identity and in "not swapped". On each
measure (results.MEASURES, lower is better) the outputs are ranked 1, 2, ... (ties share the
better rank; an output without a value ranks last); the overall order is by mean rank, then by
identity distance to the source.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from twoface.evaluate.results import MEASURES, REPORT_VERSION, Evaluation, ImageEval


@dataclass
class Comparison:
    evaluations: list[Evaluation]
    focus: set[int] = field(default_factory=set)  # face numbers (images) or people (videos)

    @classmethod
    def of(cls, evaluations: list[Evaluation]) -> Comparison:
        if isinstance(evaluations[0], ImageEval):
            focus = {f.index for e in evaluations for f in e.faces if f.swapped}
            focus = focus or {f.index for f in evaluations[0].faces}
        else:
            focus = {p.track for e in evaluations for p in e.people if p.selected}
        return cls(evaluations, focus)

    def summaries(self) -> list[dict[str, Any]]:
        return [e.summary(self.focus) for e in self.evaluations]

    def measures(self) -> list[str]:
        """The measures some output has a value for (flicker only for videos)."""
        rows = self.summaries()
        return [k for k, _, _ in MEASURES if any(r.get(k) is not None for r in rows)]

    def ranking(self) -> list[dict[str, Any]]:
        """One entry per output, best first: its overall rank, mean rank and rank per measure."""
        rows = self.summaries()
        keys = self.measures()
        ranks: list[dict[str, int]] = [{} for _ in rows]
        for key in keys:
            values = [r.get(key) for r in rows]
            for i, v in enumerate(values):
                if v is None:
                    ranks[i][key] = len(rows)
                else:
                    ranks[i][key] = 1 + sum(1 for w in values if w is not None and w < v)
        entries = []
        for i, (e, r) in enumerate(zip(self.evaluations, rows, strict=True)):
            mean = sum(ranks[i].values()) / len(keys) if keys else 0.0
            ident = r.get("identity_to_source")
            entries.append(
                {
                    "output": e.output,
                    "mean_rank": round(mean, 3),
                    "ranks": ranks[i],
                    "summary": r,
                    "_order": (mean, ident if ident is not None else float("inf"), i),
                }
            )
        entries.sort(key=lambda x: x["_order"])
        for n, entry in enumerate(entries, start=1):
            entry["rank"] = n
            del entry["_order"]
        return entries

    def to_json(self) -> dict[str, Any]:
        first = self.evaluations[0]
        return {
            "version": REPORT_VERSION,
            "kind": "compare",
            "of": first.kind,
            "sources": first.sources,
            "target": first.target,
            "encoder": first.encoder.to_json(),
            "focus": sorted(self.focus),
            "measures": self.measures(),
            "ranking": self.ranking(),
            "reports": [e.to_json() for e in self.evaluations],
        }
