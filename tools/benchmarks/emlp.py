"""1. EMLP predict: the runtime's numpy and ONNX Runtime backends vs a plain-numpy floor vs torch eager."""

from __future__ import annotations

from typing import Any

import numpy as np

from benchmarks.harness import Section, fmt_t, interleaved, paired_ratio, torch_mod
from edge_sdk.bundles import resolve_bundle

PAIRS = 41  # paired rounds of each runtime / floor ratio


def cmp_emlp() -> Section:
    import onnx
    from onnx import numpy_helper

    import edge_sdk

    torch = torch_mod()
    s = Section(1, "EMLP predict, one sample (1 x 15)",
                "runtime ≤ 1.5× the plain-numpy floor, and ≥ 2× faster than torch eager")
    bundle = resolve_bundle("emlp")
    sess_np = edge_sdk.load(bundle, backend="numpy")
    sess_ort = edge_sdk.load(bundle, backend="onnxruntime")
    w = {i.name: numpy_helper.to_array(i) for i in onnx.load(str(bundle / "model.onnx")).graph.initializer}
    # Gemm weights are stored (out, in) with transB=1: transpose once, as hand-written code would
    w1, w2 = (np.ascontiguousarray(w[f"fc{i}.weight"].T) for i in (1, 2))
    b1, b2 = w["fc1.bias"], w["fc2.bias"]
    x = np.random.default_rng(0).standard_normal((1, 15)).astype(np.float32)

    def floor() -> np.ndarray:
        y = np.logaddexp(0, np.maximum(x @ w1 + b1, 0) @ w2 + b2)
        return y / np.sqrt((y * y).sum(-1, keepdims=True) + 1e-12)

    np.testing.assert_allclose(floor(), sess_np(x), rtol=1e-4, atol=1e-6)  # the floor computes the same
    model = edge_sdk.create_model("emlp", pretrained=False).eval()
    model.load_state_dict({"fc1.weight": torch.from_numpy(w1.T.copy()), "fc1.bias": torch.tensor(b1),
                           "fc2.weight": torch.from_numpy(w2.T.copy()), "fc2.bias": torch.tensor(b2)})
    xt = torch.from_numpy(x)

    def eager() -> Any:
        with torch.inference_mode():
            return model(xt)

    ort_any: Any = sess_ort  # the bare ORT session under the runtime's wrapper
    ort_raw, ort_out, ort_feed = ort_any._sess, [o.name for o in sess_ort.outputs], {sess_ort.inputs[0].name: x}
    t = interleaved({"floor": floor, "numpy": lambda: sess_np(x), "ort": lambda: sess_ort(x), "torch": eager,
                     "ort_raw": lambda: ort_raw.run(ort_out, ort_feed)}, rounds=21)
    s.rows = [["plain-numpy floor (the same matmuls inline)", fmt_t(t["floor"])],
              ["runtime, numpy backend (`session(x)`)", fmt_t(t["numpy"])],
              ["runtime, onnxruntime backend (`session(x)`)", fmt_t(t["ort"])],
              ["torch eager (inference_mode)", fmt_t(t["torch"])],
              ["bare `onnxruntime.InferenceSession.run` (no edge-sdk code: ORT's own per-call cost)",
               fmt_t(t["ort_raw"])]]
    runtime = {"numpy": lambda: sess_np(x), "ort": lambda: sess_ort(x)}
    for name, label in (("numpy", "numpy backend"), ("ort", "onnxruntime backend")):
        # the ratio on the line is measured in paired rounds (as sections 8 and 9 do): this box's speed drifts
        # by up to 2x between seconds (the floor alone: 12-30 us), which separate medians do not cancel
        ratio, q1, q3, _ = paired_ratio(runtime[name], floor, rounds=PAIRS)
        s.check(f"{label} / floor (median of {PAIRS} paired rounds; middle half {q1:.2f}–{q3:.2f})", ratio, "≤ 1.5×",
                ratio <= 1.5)
        s.check(f"torch eager / {label}", t["torch"] / t[name], "≥ 2×", t["torch"] >= 2 * t[name])
    raw = t["ort_raw"] / t["floor"]
    s.notes.append("Both runtime calls include the Session's input checks (dtype, shape, NaN/Inf refusal). "
                   f"Bare ORT alone costs {raw:.2f}× the floor; the edge-sdk wrapper adds "
                   f"{fmt_t(max(t['ort'] - t['ort_raw'], 0.0))} per call to it (input checks, feed/output dicts). "
                   + ("ORT's own call overhead is then above the 1.5× target: no wrapper can remove it. "
                      if raw > 1.5 else "")
                   + "The numpy backend is the runtime's path for MLPs this small.")
    return s
