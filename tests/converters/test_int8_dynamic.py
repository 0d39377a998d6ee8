"""int8-dynamic on x86: the exported graph computes what exact integer arithmetic gives, one sample at a time.

ONNX Runtime's dynamic U8S8 MatMul on x86-64 CPUs without VNNI (AVX2 only, as CI's) sums uint8 x int8 products
pairwise into 16-bit lanes that saturate; with 8-bit weights the shipped EMLP came out up to 3.8 degrees from
the ONNX reference evaluator's exact integer arithmetic on single pairs (aarch64: 0.02), and its export broke
the accuracy budget. The export quantizes weights to 7 bits (reduce_range) for that reason.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx.reference import ReferenceEvaluator

import edge_sdk
from converters import export
from runtimes.golden import read_golden


def _angle_deg(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a / np.linalg.norm(a, axis=-1, keepdims=True)
    b = b / np.linalg.norm(b, axis=-1, keepdims=True)
    return np.degrees(np.arccos(np.clip((a * b).sum(-1), -1.0, 1.0)))


def test_emlp_int8_dynamic_is_within_budget_and_matches_exact_integer_arithmetic(tmp_path) -> None:
    bundle = export("emlp", tmp_path / "b", precision="int8-dynamic", show_progress=False, log=lambda m: None)
    sess = edge_sdk.load(bundle, backend="onnxruntime")
    assert sess.manifest is not None and sess.manifest.parity is not None and sess.manifest.parity["passed"]
    assert sess.manifest.calibration is not None and sess.manifest.calibration["reduce_range"] is True
    x = read_golden(bundle, sess.manifest).inputs
    assert len(x) >= 32
    exact = ReferenceEvaluator(onnx.load(bundle / "model.onnx"))
    got = np.concatenate([sess(x[i:i + 1]) for i in range(len(x))])
    want = np.concatenate([exact.run(None, {sess.inputs[0].name: x[i:i + 1]})[0] for i in range(len(x))])
    assert float(_angle_deg(got, want).max()) < 0.05
