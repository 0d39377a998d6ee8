"""The PyTorch FP32 reference outputs parity and golden samples compare against, computed once per process.

One export runs its reference several times on the same samples: parity, then the golden samples (a subset),
and for ``--precision auto`` or the mixed-precision search once per candidate or trial. Exporting one zoo model
at several precisions (the demo, a precision sweep, a notebook) repeats all of it per precision. For a
7 M-parameter model on 224x224 photos each run takes seconds on a small CPU, so the outputs are kept:

* per source object (one export's ``ModelSource``), for any model: its module does not change within an export;
* across exports for a zoo model with known weights (zoo name and weights sha256, as
  ``converters.pipeline._export_fp32`` keys its FP32 exports): our code, so the same weights give the same
  outputs. A user's module may change between exports in ways its weights do not show, so it is never shared.

Entries are keyed by the samples' bytes and the output names, dropped least recently used first beyond
:data:`MAX_BYTES`, and handed out read-only.
"""

from __future__ import annotations

import collections
import hashlib
import threading
import weakref
from typing import Any

import numpy as np

from converters.sources import ModelSource

MAX_BYTES = 64 << 20  # outputs kept, all entries together; a larger run is not kept
_CACHE: collections.OrderedDict[tuple[Any, ...], tuple[Any, dict[str, np.ndarray]]] = collections.OrderedDict()
_LOCK = threading.Lock()  # exports may run in threads; the runs themselves happen outside it


def reference_outputs(src: ModelSource, x: np.ndarray, names: list[str],
                      rows: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """``run_torch(src.module, x, names)``; with ``rows``, those rows of it (from a kept run on all of ``x`` when
    there is one, else computed on those rows alone)."""
    from converters.validate import run_torch

    key = _key(src, x, names)
    with _LOCK:
        hit = _CACHE.get(key)
        if hit is not None and (hit[0] is None or hit[0]() is src):
            _CACHE.move_to_end(key)
        else:
            hit = None
    if hit is not None:
        return dict(hit[1]) if rows is None else {k: v[rows] for k, v in hit[1].items()}
    if rows is not None:
        return run_torch(src.module, x[rows], names)
    out = run_torch(src.module, x, names)
    for v in out.values():
        v.setflags(write=False)
    if sum(v.nbytes for v in out.values()) <= MAX_BYTES:
        with _LOCK:
            _CACHE[key] = (None if _shared(src) else weakref.ref(src), out)
            while sum(v.nbytes for _, kept in _CACHE.values() for v in kept.values()) > MAX_BYTES:
                _CACHE.popitem(last=False)
    return dict(out)


def _shared(src: ModelSource) -> bool:
    return bool(src.zoo_name and src.source_sha256)


def _key(src: ModelSource, x: np.ndarray, names: list[str]) -> tuple[Any, ...]:
    owner = ("zoo", src.zoo_name, src.source_sha256) if _shared(src) else ("source", id(src))
    data = np.ascontiguousarray(x)
    return (*owner, hashlib.sha256(data.tobytes()).hexdigest(), data.shape, str(data.dtype),
            tuple(names))
