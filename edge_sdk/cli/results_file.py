"""Per-frame results of `edge-sdk run`: one record per frame, to JSON Lines or CSV as frames arrive.

A record is a flat dict of numbers and strings (lists of numbers, such as gains, become ``gains_r``,
``gains_g``, ``gains_b`` in CSV; other lists go in as JSON text). The file is written beside its
target and renamed onto it when the run ends, so a failed run leaves nothing half-written.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Sequence
from contextlib import AbstractContextManager, ExitStack
from pathlib import Path
from typing import IO, Any

from edge_sdk._io import atomic_path
from edge_sdk.errors import EdgeSDKError

FORMATS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv"}
RGB = ("r", "g", "b")


def results_format(path: str | os.PathLike[str]) -> str:
    """``jsonl`` or ``csv`` from the file name, or a typed error saying which names work."""
    fmt = FORMATS.get(Path(path).suffix.lower())
    if fmt is None:
        raise EdgeSDKError(f"--output {path}: name the results file .jsonl or .csv")
    return fmt


def flat_columns(columns: Sequence[str], rgb: set[str]) -> list[str]:
    """CSV header: each RGB column becomes three (``gains`` -> ``gains_r``, ``gains_g``, ``gains_b``)."""
    return [x for c in columns for x in ([f"{c}_{k}" for k in RGB] if c in rgb else [c])]


class ResultsWriter(AbstractContextManager["ResultsWriter"]):
    """``with ResultsWriter(path, columns, rgb=("gains",)) as w: w.write(record)``."""

    def __init__(self, path: str | os.PathLike[str], columns: Sequence[str], rgb: Sequence[str] = ()) -> None:
        self.path = Path(path)
        self.format = results_format(path)
        self.columns = list(columns)
        self.rgb = set(rgb)
        self._stack = ExitStack()
        self._file: IO[str] | None = None
        self._csv: Any = None

    def __enter__(self) -> ResultsWriter:
        tmp = self._stack.enter_context(atomic_path(self.path))
        self._file = self._stack.enter_context(open(tmp, "w", encoding="utf-8", newline=""))
        if self.format == "csv":
            self._csv = csv.writer(self._file)
            self._csv.writerow(flat_columns(self.columns, self.rgb))
        return self

    def write(self, record: dict[str, Any]) -> None:
        assert self._file is not None, "use ResultsWriter in a with block"
        if self._csv is None:
            self._file.write(json.dumps(record, default=str) + "\n")
            return
        row: list[Any] = []
        for c in self.columns:
            v = record.get(c)
            if c in self.rgb:
                row.extend(v if isinstance(v, (list, tuple)) and len(v) == 3 else ["", "", ""])
            elif isinstance(v, (list, tuple, dict)):
                row.append(json.dumps(v, default=str))
            else:
                row.append("" if v is None else v)
        self._csv.writerow(row)

    def __exit__(self, exc_type: Any, *exc: Any) -> None:
        if exc_type is not None and self._file is not None:
            self._file.close()  # the atomic path removes the temporary file on the way out
        self._stack.__exit__(exc_type, *exc)
