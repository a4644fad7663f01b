"""What ``grader roster`` writes for people: ``grades.csv`` for a spreadsheet, ``report.html`` to read.

Both are pure functions of the records (:class:`grader.roster.Record`), in roster order, with no clock
and no randomness in them: the same records give the same bytes, which is what makes a merge of shards
identical to a single run.

``grades.csv``: ``student``, one column per exercise (the points earned; empty where the student was
not graded on it), ``total``, ``max``, ``commit`` (the commit graded) and ``error`` (why the student
could not be fetched or graded). Totals are exact sums, rounded once, as the other reports round them.

``report.html``: one self-contained page (inline CSS, an inline SVG histogram, no script): how many
students completed each exercise (all of its points), a histogram of totals as a share of the maximum,
the students with errors and the exercises that did not run, then every student's row.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from fractions import Fraction
from html import escape
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .roster import Record

DID_NOT_RUN = {"error": "does not run", "crashed": "crashed", "timed_out": "timed out"}
BINS = 10  # histogram bars: 0–9 %, 10–19 %, …, 90–100 %


def number(value: Fraction | float) -> str:
    """``10``, ``7.5``, ``3.33``: rounded once, as every other report rounds points (:func:`grader.results.show`)."""
    from .results import show

    return show(value)


def exercise_columns(records: Sequence[Record]) -> list[str]:
    """Every exercise any student was graded on, in course order (``NN_slug`` sorts by number)."""
    return sorted({score.exercise for record in records for score in record.exercises})


def to_csv(records: Sequence[Record]) -> str:
    columns = exercise_columns(records)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["student", *columns, "total", "max", "commit", "error"])
    for record in records:
        points = {score.exercise: number(score.points) for score in record.exercises}
        total = number(Fraction(record.total)) if record.total else ""
        maximum = number(Fraction(record.max)) if record.max else ""
        writer.writerow([record.student, *(points.get(c, "") for c in columns), total, maximum, record.commit, record.error])
    return buffer.getvalue()


# --- the HTML report --------------------------------------------------------------------------------

STYLE = """
body { font: 15px/1.45 system-ui, sans-serif; margin: 2rem auto; max-width: 72rem; padding: 0 1rem; color: #1d1d1f; }
h1 { font-size: 1.6rem; margin-bottom: .2rem; } h2 { font-size: 1.15rem; margin-top: 2rem; }
.summary { color: #555; } .muted { color: #777; }
table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
th, td { text-align: left; padding: .25rem .6rem; border-bottom: 1px solid #e3e3e3; vertical-align: top; }
th { background: #f5f5f7; position: sticky; top: 0; }
td.n, th.n { text-align: right; }
.bar { background: #eee; width: 10rem; height: .8rem; border-radius: .2rem; overflow: hidden; }
.bar span { display: block; height: 100%; background: #2e8540; }
.error { color: #b00020; }
.scroll { overflow-x: auto; }
svg text { font: 12px system-ui, sans-serif; fill: #333; }
svg rect.bin { fill: #3a6ea5; }
"""


def to_html(records: Sequence[Record], *, shard: tuple[int, int] | None = None, roster_rows: int | None = None) -> str:
    columns = exercise_columns(records)
    graded = [r for r in records if r.exercises]
    errors = [r for r in records if r.error]
    shares = [Fraction(r.total) / Fraction(r.max) for r in graded if r.max and Fraction(r.max) > 0]
    title = "Roster grades" + (f" — shard {shard[0]} of {shard[1]}" if shard else "")
    summary = [f"{len(records)} student{'s' * (len(records) != 1)}", f"{len(graded)} graded", f"{len(errors)} with an error"]
    if shard and roster_rows is not None:
        summary.append(f"of a roster of {roster_rows} (merge the shards for the whole class)")
    if shares:
        summary.append(f"median total {_percent(_median(shares))}, mean {_percent(sum(shares) / len(shares))}")
    parts = [
        "<!doctype html>",
        '<html lang="en">',
        '<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escape(title)}</title><style>{STYLE}</style></head>",
        "<body>",
        f"<h1>{escape(title)}</h1>",
        f'<p class="summary">{escape(" · ".join(summary))}</p>',
        "<h2>Totals</h2>",
        histogram(shares),
        "<h2>Exercises</h2>",
        _exercise_table(columns, graded),
        f"<h2>Students with errors ({len(errors)})</h2>",
        _error_table(errors),
        "<h2>Exercises that did not run</h2>",
        _did_not_run_table(graded),
        "<h2>Every student</h2>",
        _student_table(columns, records),
        "</body>",
        "</html>",
    ]
    return "\n".join(parts) + "\n"


def _percent(share: Fraction) -> str:
    return f"{float(share) * 100:.0f} %"


def _median(values: Sequence[Fraction]) -> Fraction:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def histogram(shares: Sequence[Fraction]) -> str:
    """An inline SVG bar chart: how many students' totals fall in each tenth of the maximum."""
    if not shares:
        return '<p class="muted">No student was graded.</p>'
    counts = [0] * BINS
    for share in shares:
        counts[min(BINS - 1, int(share * BINS))] += 1  # 100 % goes into the last bar, 90–100 %
    width, height, left, bottom, top = 640, 220, 36, 34, 18
    slot = (width - left) / BINS
    tallest = max(counts)
    items = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="histogram of the students\' totals, as a share of the maximum">',
        f'<line x1="{left}" y1="{height - bottom}" x2="{width}" y2="{height - bottom}" stroke="#999"/>',
    ]
    for i, count in enumerate(counts):
        bar = (height - bottom - top) * count / tallest
        x = left + i * slot
        low, high = i * 100 // BINS, (i + 1) * 100 // BINS - (i < BINS - 1)
        label = f"{low}–{high} %"
        items.append(
            f'<rect class="bin" x="{x + 3:.1f}" y="{height - bottom - bar:.1f}" width="{slot - 6:.1f}" height="{bar:.1f}">'
            f"<title>{label}: {count} student{'s' * (count != 1)}</title></rect>"
        )
        if count:
            items.append(f'<text x="{x + slot / 2:.1f}" y="{height - bottom - bar - 4:.1f}" text-anchor="middle">{count}</text>')
        items.append(f'<text x="{x + slot / 2:.1f}" y="{height - bottom + 16:.1f}" text-anchor="middle">{label}</text>')
    items.append(f'<text x="{left}" y="{height - 4}" class="muted">share of the maximum points</text>')
    items.append("</svg>")
    return "".join(items)


def _exercise_table(columns: Sequence[str], graded: Sequence[Record]) -> str:
    if not columns:
        return '<p class="muted">No exercise was graded.</p>'
    rows = ['<table><tr><th>exercise</th><th class="n">completed</th><th></th><th class="n">mean points</th></tr>']
    for name in columns:
        scores = [s for r in graded for s in r.exercises if s.exercise == name]
        complete = sum(s.complete for s in scores)
        share = complete / len(scores) if scores else 0
        mean = sum(Fraction(s.points) for s in scores) / len(scores) if scores else Fraction(0)
        most = max((s.max_points for s in scores), default=0)
        rows.append(
            f"<tr><td>{escape(name)}</td><td class=\"n\">{complete}/{len(scores)}</td>"
            f'<td><div class="bar" title="{share * 100:.0f} %"><span style="width:{share * 100:.1f}%"></span></div></td>'
            f'<td class="n">{number(mean)}/{number(most)}</td></tr>'
        )
    rows.append("</table>")
    return "\n".join(rows)


def _error_table(errors: Sequence[Record]) -> str:
    if not errors:
        return '<p class="muted">None: every student was fetched and graded.</p>'
    rows = ["<table><tr><th>student</th><th>repository</th><th>why</th></tr>"]
    rows += [
        f'<tr><td>{escape(r.student)}</td><td>{escape(r.repository)}</td><td class="error">{escape(r.error)}</td></tr>'
        for r in errors
    ]
    rows.append("</table>")
    return "\n".join(rows)


def _did_not_run_table(graded: Sequence[Record]) -> str:
    found = [(r, s) for r in graded for s in r.exercises if s.status in DID_NOT_RUN]
    if not found:
        return '<p class="muted">None: every exercise graded ran its tests.</p>'
    rows = ["<table><tr><th>student</th><th>exercise</th><th>what happened</th><th>commit</th></tr>"]
    rows += [
        f"<tr><td>{escape(r.student)}</td><td>{escape(s.exercise)}</td>"
        f'<td class="error">{escape(DID_NOT_RUN[s.status])}</td><td><code>{escape(r.commit[:12])}</code></td></tr>'
        for r, s in found
    ]
    rows.append("</table>")
    return "\n".join(rows)


def _student_table(columns: Sequence[str], records: Sequence[Record]) -> str:
    head = "".join(f'<th class="n">{escape(c)}</th>' for c in columns)
    rows = [f'<div class="scroll"><table><tr><th>student</th>{head}<th class="n">total</th><th>commit</th></tr>']
    for record in records:
        points = {s.exercise: s for s in record.exercises}
        cells = "".join(
            f'<td class="n">{number(points[c].points) if c in points else ""}</td>' for c in columns
        )
        total = f"{number(Fraction(record.total))}/{number(Fraction(record.max))}" if record.total else ""
        note = f'<br><span class="error">{escape(record.error)}</span>' if record.error else ""
        rows.append(
            f"<tr><td>{escape(record.student)}{note}</td>{cells}<td class=\"n\">{total}</td>"
            f"<td><code>{escape(record.commit[:12])}</code></td></tr>"
        )
    rows.append("</table></div>")
    return "\n".join(rows)
