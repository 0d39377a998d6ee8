"""7. The exported C white balance (statistics + estimate) vs the numpy pipeline and copying the pair once."""

from __future__ import annotations

import ctypes
import json
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from benchmarks.harness import Section, fmt_t, interleaved
from benchmarks.white_balance import dual_pair
from edge_sdk.bundles import resolve_bundle


def build_shared(bundle: Path, out: Path, precision: str) -> tuple[ctypes.CDLL, int]:
    """Export the C (no golden vectors), build libawb_emlp.so with the export's Makefile, load it; and
    sizeof(awb_ctx) as the export measured it (its awb_emlp.json)."""
    from converters.c_awb import export_c

    d = export_c(bundle, out / precision, precision, vectors=False)
    r = subprocess.run(["make", "-C", str(d), "shared"], capture_output=True, text=True, timeout=300)
    if r.returncode != 0:
        raise RuntimeError(f"building the C white balance failed: {r.stderr[-500:]}")
    lib = ctypes.CDLL(str(d / "libawb_emlp.so"))
    lib.awb_run.restype = ctypes.c_int
    ctx_size = int(((json.loads((d / "awb_emlp.json").read_text()).get("sizes") or {}).get("ctx")) or 0)
    return lib, ctx_size


def cmp_c_white_balance() -> Section:
    from edge_sdk.awb.features import extract_features
    from runtimes import load

    s = Section(7, "White balance in C (edge-sdk export --format c): statistics + estimate, one call per pair",
                "C ≤ 0.5× the numpy pipeline's time at 1080p", short="C white balance vs numpy pipeline")
    if not (shutil.which("cc") or shutil.which("gcc")) or not shutil.which("make"):
        s.notes.append("skipped: no C compiler / make on this machine")
        return s
    bundle = resolve_bundle("emlp")
    sess = load(bundle, backend="numpy")
    res = ctypes.create_string_buffer(256)
    with tempfile.TemporaryDirectory() as tmp:
        built = {p: build_shared(bundle, Path(tmp), p) for p in ("fp32", "int8")}
        libs = {p: lib for p, (lib, _) in built.items()}
        # one caller-owned context for both builds: sizeof(awb_ctx) as measured at export (512 KiB if unknown)
        ctx = ctypes.create_string_buffer(max(size for _, size in built.values()) or 512 * 1024)
        for name, (w, h) in (("1080p", (1920, 1080)), ("4K", (3840, 2160))):
            long, short = dual_pair(w, h)
            lp, sp = long.ctypes.data_as(ctypes.c_void_p), short.ctypes.data_as(ctypes.c_void_p)

            def numpy_wb(long: np.ndarray = long, short: np.ndarray = short) -> np.ndarray:
                return sess(extract_features(long, short, white_level=4095)[None])

            def c_wb(lib: ctypes.CDLL, lp: ctypes.c_void_p = lp, sp: ctypes.c_void_p = sp, w: int = w,
                     h: int = h) -> None:
                if lib.awb_run(ctx, lp, sp, ctypes.c_size_t(3 * w), w, h, 0, 4095, res) != 0:
                    raise RuntimeError("awb_run failed")

            def copy(long: np.ndarray = long, short: np.ndarray = short) -> tuple[np.ndarray, np.ndarray]:
                return long.copy(), short.copy()

            t = interleaved({"numpy": numpy_wb, "fp32": lambda: c_wb(libs["fp32"]),
                             "int8": lambda: c_wb(libs["int8"]), "copy": copy}, rounds=15, block_s=0.1)
            s.rows += [[f"{name} pair: C float build (awb_run: statistics + estimate)", fmt_t(t["fp32"])],
                       [f"{name} pair: C int8 build", fmt_t(t["int8"])],
                       [f"{name} pair: numpy pipeline (features + EMLP, numpy backend)", fmt_t(t["numpy"])],
                       [f"{name} pair: copy both frames", fmt_t(t["copy"])]]
            met = t["fp32"] <= 0.5 * t["numpy"] if name == "1080p" else None
            s.check(f"{name}: C float / numpy pipeline", t["fp32"] / t["numpy"],
                    "≤ 0.5×" if met is not None else "shown", met)
            s.check(f"{name}: C float / copy", t["fp32"] / t["copy"], "shown", None)
    s.notes.append("The C is compiled by the export's Makefile (cc -O2, no -march: SSE2 on x86-64), called through "
                   "ctypes on the same uint16 frames (no copies, no file I/O); single thread. Both sides read only "
                   "the statistics rows (every k-th row, k = H // 216). The numpy pipeline uses OpenCV's SIMD "
                   "resizes (OpenCV may use its worker threads).")
    return s
