"""Monsoon power monitor CSV exports (``Time(ms), Main(mA), ..., Main Voltage(V)``).

Users with an external power monitor on a phone's battery terminals export a CSV from the
Monsoon software; ``bench ingest --tool monsoon`` turns it into energy: the trapezoid integral of
``Main(mA) x Main Voltage(V)`` over ``Time(ms)``. A last row cut mid-line (too few fields, or the
file ends without a line end, where a number may have lost digits) is dropped and noted.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass

from bench.devices.energy.base import PowerLogUnusable
from bench.errors import one_line
from bench.parsers.tool_output import ToolOutputError

TIME, CURRENT, VOLTAGE = "Time(ms)", "Main(mA)", "Main Voltage(V)"


@dataclass
class MonsoonTrace:
    seconds: float
    joules: float
    samples: int
    note: str = ""
    uncovered: str = ""  # what part of the logged time has no power reading in seconds (a dropped last row)

    @property
    def mean_w(self) -> float:
        return self.joules / self.seconds if self.seconds > 0 else 0.0


def parse_monsoon_csv(text: str) -> MonsoonTrace:
    """Energy of a Monsoon CSV; ``ToolOutputError`` names the line that cannot be read."""
    reader = csv.reader(io.StringIO(text))
    try:
        header = [h.strip() for h in next(reader)]
    except (StopIteration, csv.Error):
        raise ToolOutputError(1, "empty file: expected a header with Time(ms), Main(mA), Main Voltage(V)") from None
    missing = [h for h in (TIME, CURRENT, VOLTAGE) if h not in header]
    if missing:
        raise ToolOutputError(1, f"header lacks {', '.join(missing)} (it has {one_line(', '.join(header), 200)})")
    columns = [header.index(h) for h in (TIME, CURRENT, VOLTAGE)]
    points: list[tuple[float, float]] = []
    rows: list[tuple[int, list[str]]] = []
    try:
        for row in reader:
            if row and "".join(row).strip():
                rows.append((reader.line_num, row))
    except csv.Error as exc:
        raise ToolOutputError(reader.line_num, f"malformed CSV: {exc}") from None
    note = ""
    if rows:  # the last row of a file cut mid-line: too few fields, or no line end after it
        last, row = rows[-1]
        if len(row) <= max(columns) or not all(row[i].strip() for i in columns):
            rows.pop()
            note = f"last row (line {last}) dropped: it lacks fields (the file cut mid-line?)"
        elif not text.endswith(("\n", "\r")):
            rows.pop()
            note = (
                f"last row (line {last}) dropped: the file ends without a line end (cut mid-line?), "
                "its numbers may lack digits"
            )
    for line, row in rows:
        try:
            t, ma, v = (float(row[i]) for i in columns)
        except (ValueError, IndexError):
            raise ToolOutputError(
                line, f"expected numbers in {TIME}, {CURRENT}, {VOLTAGE}: {one_line(','.join(row), 120)!r}"
            ) from None
        if not all(math.isfinite(x) for x in (t, ma, v)):
            raise ToolOutputError(line, "a value is not finite")
        if points and t / 1e3 <= points[-1][0]:  # points hold seconds, the column milliseconds
            raise ToolOutputError(line, f"time goes backwards or repeats ({t} ms after {points[-1][0] * 1e3} ms)")
        points.append((t / 1e3, ma / 1e3 * v))
    if len(points) < 2:
        raise PowerLogUnusable(
            0, f"{len(points)} sample(s) read{f' ({note})' if note else ''}: energy needs at least two samples"
        )
    joules = sum((p0 + p1) / 2 * (t1 - t0) for (t0, p0), (t1, p1) in zip(points, points[1:], strict=False))
    uncovered = f"the interval before line {last}, the dropped last row" if note else ""
    return MonsoonTrace(
        seconds=points[-1][0] - points[0][0], joules=joules, samples=len(points), note=note, uncovered=uncovered
    )
