"""Golden samples at export: a few dozen held-out inputs with their labels, the PyTorch FP32 outputs and
this artifact's outputs on the export host, written into the bundle for ``edge-sdk check`` on the device.

The format and the reader are the runtime's (:mod:`runtimes.golden`); this module chooses the samples,
computes the references and keeps the file within :data:`runtimes.golden.MAX_GOLDEN_BYTES`:

* up to :data:`SAMPLES` samples of the export's validation set (seeded, so a re-export picks the same);
* inputs in a lossless compact form (:func:`runtimes.golden.encode_inputs`: uint8 indices into exact
  palettes for 8-bit data, else the float32 byte planes), checked to decode bit for bit;
* fewer samples when the compressed file would be over the bound (CARE's 3x224x224 photos, resized
  in float so every value differs, keep 2: about 450 KB each);
  when not even one sample fits, no file is written and the log says so (``edge-sdk check`` then
  asks for a re-export).
"""

from __future__ import annotations

import hashlib
import platform
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from converters.eval_set import EvalSet
from converters.sources import ModelSource
from runtimes.atomic import atomic_write_bytes
from runtimes.golden import GOLDEN_NAME, MAX_GOLDEN_BYTES, decode_inputs, encode_inputs, identical, pack
from runtimes.metrics import SQNR, metric_for

SAMPLES = 48
SEED = 0
_FORMS = {"inputs": "float32", "inputs_index": "uint8-palette", "inputs_planes": "float32-byte-planes"}


def choose(count: int, samples: int = SAMPLES, seed: int = SEED) -> np.ndarray:
    """Sorted indices of ``min(samples, count)`` validation samples, the same on every export."""
    if count <= samples:
        return np.arange(count)
    return np.sort(np.random.default_rng(seed).choice(count, samples, replace=False))


def golden_bytes(src: ModelSource, artifact: Path, evalset: EvalSet, output_names: list[str], *,
                 samples: int = SAMPLES, max_bytes: int = MAX_GOLDEN_BYTES) -> tuple[bytes, dict[str, Any]] | None:
    """The golden file for ``artifact`` and its manifest entry (without the hash), or None when not one
    sample fits in ``max_bytes``."""
    from converters.reference import reference_outputs
    from runtimes.loader import load
    from runtimes.selfcheck import run_samples

    idx = choose(len(evalset.x), samples)
    x = np.ascontiguousarray(evalset.x[idx], np.float32)
    uses_labels = evalset.y is not None and metric_for(src.task, True) is not SQNR  # top-1 or angular error
    labels = np.asarray(evalset.y)[idx] if uses_labels else None
    reference = reference_outputs(src, evalset.x, output_names, rows=idx)  # parity's run when kept
    with load(artifact, backend="onnxruntime", providers=["CPUExecutionProvider"]) as session:
        host = run_samples(session, x)
    encoded = encode_inputs(x)
    if not identical(decode_inputs(encoded), x):
        encoded = {"inputs": x}  # a compact form must give the very inputs back; otherwise store them as they are
    n = len(x)
    while n > 0:
        data = pack({k: v[:n] if v.ndim and k != "inputs_palette" else v for k, v in encoded.items()},
                    None if labels is None else labels[:n], [reference[k][:n] for k in output_names],
                    [host[k][:n] for k in output_names])
        if len(data) <= max_bytes:
            import onnxruntime

            return data, {"file": GOLDEN_NAME, "samples": n, "bytes": len(data),
                          "inputs": _FORMS[next(k for k in _FORMS if k in encoded)],
                          "labels": None if labels is None else ("classes" if labels.ndim == 1 else "illuminants"),
                          "dataset": evalset.name, "reference": "pytorch-fp32",
                          "host": f"onnxruntime {onnxruntime.__version__} CPU, {platform.machine()}"}
        n = min(n - 1, int(n * max_bytes / len(data) * 0.95))
    return None


def write_golden(bundle: Path, src: ModelSource, artifact: Path, evalset: EvalSet, output_names: list[str], *,
                 samples: int = SAMPLES, max_bytes: int = MAX_GOLDEN_BYTES,
                 log: Callable[[str], None] = print) -> dict[str, Any] | None:
    """Write ``bundle/golden.npz`` atomically; returns the manifest's ``golden`` field (None: nothing fits)."""
    made = golden_bytes(src, artifact, evalset, output_names, samples=samples, max_bytes=max_bytes)
    if made is None:
        log(f"no golden samples: one {'x'.join(map(str, evalset.x.shape[1:]))} sample does not fit in "
            f"{max_bytes} bytes, so edge-sdk check cannot run on this bundle")
        return None
    data, entry = made
    atomic_write_bytes(bundle / GOLDEN_NAME, data)
    return {**entry, "sha256": hashlib.sha256(data).hexdigest()}
