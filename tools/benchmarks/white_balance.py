"""4. White balance on 1080p and 4K dual-exposure pairs vs copying both frames once."""

from __future__ import annotations

import numpy as np

from benchmarks.harness import Section, fmt_t, interleaved
from edge_sdk.bundles import resolve_bundle


def dual_pair(w: int, h: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A smooth raw-like scene (uint16, 12-bit range) as a long/short exposure pair (ratio 4, clipped)."""
    import cv2

    rng = np.random.default_rng(seed)
    small = rng.uniform(0.02, 1.0, (h // 40 + 1, w // 40 + 1, 3)).astype(np.float32) * [0.5, 1.0, 0.7]
    scene = cv2.resize(small.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)
    short = np.clip(scene * 1000 + rng.normal(0, 4, scene.shape), 0, 4095).astype(np.uint16)
    long = np.clip(scene * 4000 + rng.normal(0, 8, scene.shape), 0, 4095).astype(np.uint16)
    return long, short


def cmp_white_balance() -> Section:
    from edge_sdk.pipelines import pipeline_for
    from runtimes import load

    s = Section(4, "White balance on dual-exposure pairs: features + EMLP / ECCC",
                "≤ 2× the time of copying both frames once (the memory floor)",
                short="White balance vs copying the pair")
    # the pipeline table picks each bundle's features (edge_sdk.pipelines): EMLP's DEF + statistics, ECCC's
    # log-chroma histograms + DEF; EMLP on the numpy backend, ECCC (a Conv) on ONNX Runtime
    heads = {name: pipeline_for(load(resolve_bundle(name), backend=backend))
             for name, backend in (("emlp", "numpy"), ("eccc", "auto"))}
    for name, (w, h) in (("1080p", (1920, 1080)), ("4K", (3840, 2160))):
        long, short = dual_pair(w, h)
        fns = {}
        for model, wb in heads.items():
            def run(long: np.ndarray = long, short: np.ndarray = short, wb: object = wb) -> np.ndarray:
                feats, _ = wb.extractor.extract(long, short, white_level=4095, black_level=0)  # type: ignore[attr-defined]
                return wb.session(feats[None])  # type: ignore[attr-defined, no-any-return]
            fns[model] = run

        def copy(long: np.ndarray = long, short: np.ndarray = short) -> tuple[np.ndarray, np.ndarray]:
            return long.copy(), short.copy()

        t = interleaved({**fns, "copy": copy}, rounds=15, block_s=0.1)
        for model, wb in heads.items():
            s.rows.append([f"{name} uint16 pair: features + {model.upper()} ({wb.session.backend} backend)",
                           fmt_t(t[model])])
        s.rows.append([f"{name} uint16 pair: copy both frames", fmt_t(t["copy"])])
        for model in heads:
            s.check(f"{name}: {model} white balance / copy", t[model] / t["copy"], "≤ 2×", t[model] <= 2 * t["copy"])
    s.notes.append("The statistics read every k-th row (k = H // 216) and never convert the uint16 frames to "
                   "float (edge_sdk/awb/features.py); ECCC's histograms come from the same 64 x 36 grid "
                   "(edge_sdk/awb/histogram.py), so the cost is a fraction of one pass over the frames.")
    return s
