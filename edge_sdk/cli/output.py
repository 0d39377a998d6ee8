"""Small helpers for CLI output: aligned text tables and JSON."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Sequence
from typing import Any

MIN_SHRUNK = 8  # a shrunk column keeps at least this many characters


def print_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, indent=2, default=str) + "\n")  # one write: line buffering flushes once
    sys.stdout.flush()


def format_table(headers: Sequence[str], rows: Sequence[Sequence[Any]], *, max_width: int | None = None,
                 shrink: Sequence[int] = ()) -> str:
    """Left-aligned columns; numbers right-aligned. With ``max_width``, the text columns listed in ``shrink``
    are cut (ending in "~") widest first until a line fits, none below :data:`MIN_SHRUNK` characters."""
    cells = [[str(h) for h in headers]] + [["" if c is None else str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    if max_width is not None:
        while sum(widths) + 2 * (len(widths) - 1) > max_width:
            i = max(shrink, key=lambda k: widths[k], default=None)
            if i is None or widths[i] <= MIN_SHRUNK:
                break
            widths[i] -= 1
        cells = [[c if len(c) <= widths[i] else c[: widths[i] - 1] + "~" for i, c in enumerate(r)] for r in cells]
    numeric = [all(_is_number(r[i]) for r in rows if r[i] is not None) and rows for i in range(len(headers))]
    lines = []
    for k, r in enumerate(cells):
        parts = [c.rjust(w) if numeric[i] and k else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths))]
        lines.append("  ".join(parts).rstrip())
        if k == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


NUMBER_TEXT = re.compile(r"-?\d[\d,]*(\.\d+)?( ?(%|[a-zA-Z]{1,3})(/s)?|/s)?")  # 3.5, 12.0%, 9011.9/s, 61 fps


def _is_number(x: Any) -> bool:
    if isinstance(x, str):
        return NUMBER_TEXT.fullmatch(x) is not None
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def human_count(n: float) -> str:
    for unit, div in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= div:
            return f"{n / div:.2f}{unit}"
    return str(int(n))
