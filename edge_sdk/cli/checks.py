"""Argument checks every command shares, run before any long work starts.

Numbers from the command line are checked for range and finiteness (``--duration inf`` would
never end, ``--threads 100000`` would try to start 100,000 threads), and output files are probed
for writability up front, so `train` does not fail only after an hour of training.
"""

from __future__ import annotations

import math
import os
import tempfile
from pathlib import Path

from edge_sdk.errors import EdgeSDKError
from runtimes.session import DEFAULT_MAX_BATCH, max_threads

MAX_THREADS = max_threads()  # the runtime's own bounds: the CLI refuses what a session would
MAX_BATCH = DEFAULT_MAX_BATCH
MAX_SECONDS = 24 * 3600.0
MAX_COUNT = 10**9


def number_in_range(value: float | None, flag: str, lo: float, hi: float, *, lo_open: bool = False) -> None:
    """``lo <= value <= hi`` (``lo < value`` with ``lo_open``) and finite; ``None`` means not given."""
    if value is None:
        return
    low_ok = value > lo if lo_open else value >= lo
    if isinstance(value, float) and not math.isfinite(value) or not low_ok or value > hi:
        if isinstance(value, int):
            raise EdgeSDKError(f"{flag} must be between {lo:,} and {hi:,}, got {value:,}")
        low = f"> {lo:g}" if lo_open else f">= {lo:g}"
        raise EdgeSDKError(f"{flag} must be a finite number {low} and <= {hi:g}, got {value}")


def writable_file(path: str | os.PathLike[str] | None, flag: str) -> None:
    """Fail now, with the flag's name, if ``path`` cannot be written later (atomically, beside itself)."""
    if path is None or str(path) == "-":
        return
    target = Path(path)
    if str(path) == "" or target.is_dir():
        raise EdgeSDKError(f"{flag} {str(path)!r} is a directory; give a file name")
    parent = target.parent
    probe_dir = parent
    while not probe_dir.exists():  # atomic writes create missing parents: probe the first one that exists
        if probe_dir == probe_dir.parent:
            break
        probe_dir = probe_dir.parent
    if not probe_dir.is_dir():
        raise EdgeSDKError(f"cannot write {flag} {target}: {probe_dir} is not a directory")
    try:
        with tempfile.NamedTemporaryFile(prefix=".edge-sdk-probe-", dir=probe_dir):
            pass
    except OSError as e:
        raise EdgeSDKError(f"cannot write {flag} {target}: {e.strerror or e} ({probe_dir})") from None


def writable_dir(path: str | os.PathLike[str] | None, flag: str) -> None:
    """Fail now if the directory ``path`` cannot be created or written into."""
    if path is None:
        return
    target = Path(path)
    if target.exists() and not target.is_dir():
        raise EdgeSDKError(f"{flag} {target} exists and is not a directory")
    writable_file(target / "probe", flag)
