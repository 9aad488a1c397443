"""Quality reports of swaps (`twoface eval`, `swap --report`, `batch --report`).

    from twoface.evaluate import Evaluator, evaluate, write_report
    ev = Evaluator.create(swapper="classical")
    result = evaluate(ev, ["me.jpg"], "group.jpg", "out.jpg")
    result.summary()  # identity, landmarks, pose, seam, colour (and flicker for videos)
    result.flags()  # the measures past their good value, one line each
    write_report("report.html", result)  # one self-contained page; .json for the numbers

`measures` holds the measures on arrays, `evaluator` runs them over images and videos,
`results` is what they find (and its JSON), `compare` ranks several outputs, `report_html`
draws the page.
"""

from twoface.evaluate.compare import Comparison
from twoface.evaluate.evaluator import Evaluator, choose_encoder
from twoface.evaluate.measures import PARAMS, EvalParams
from twoface.evaluate.reports import (
    BatchReports,
    check_report_path,
    compare,
    evaluate,
    report_text,
    swap_report,
    write_report,
)
from twoface.evaluate.results import Evaluation, ImageEval, VideoEval

__all__ = [
    "PARAMS",
    "BatchReports",
    "Comparison",
    "EvalParams",
    "Evaluation",
    "Evaluator",
    "ImageEval",
    "VideoEval",
    "check_report_path",
    "choose_encoder",
    "compare",
    "evaluate",
    "report_text",
    "swap_report",
    "write_report",
]
