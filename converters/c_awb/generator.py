"""Render the C white balance (awb_emlp.[ch], awb_cli.c, awb_test.c, Makefile, README.md, golden vectors)."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from fractions import Fraction
from importlib import resources
from pathlib import Path

import numpy as np

from converters.c_awb.model import CExportError, MLPWeights
from converters.c_awb.quantize import Int8Model
from edge_sdk.awb import features as F

MARKER = "awb_emlp.json"
FORMAT = "edge-sdk/c-awb"
SCHEMA = 1
PRECISIONS = ("fp32", "int8")
# golden vectors: (name, seed, height, width, kind) from the synthetic test split
VECTORS = (
    ("test0_192x108", 0, 108, 192, "scene"),
    ("test1_257x145_odd", 1, 145, 257, "scene"),
    ("test2_641x360_halved_rows", 2, 360, 641, "scene"),
    ("test3_70x40", 3, 40, 70, "scene"),
    ("saturated_long_96x54", 4, 54, 96, "saturated"),
    ("gray_world_96x54", 5, 54, 96, "grayworld"),
    ("black_96x54", 6, 54, 96, "black"),
)
FALLBACK_CODES = {None: 0, "no usable": 1, "degenerate": 2}


def template(name: str) -> str:
    return (resources.files("converters.c_awb") / "templates" / name).read_text(encoding="utf-8")


def fallback_code(text: str | None) -> int:
    if text is None:
        return 0
    return 1 if text.startswith("no usable") else 2


def _ratio(x: float, what: str) -> tuple[int, int]:
    fr = Fraction(str(x)).limit_denominator(100000)
    if float(fr) != x and abs(float(fr) - x) > 1e-12:
        raise CExportError(f"features.py's {what} = {x} has no small exact fraction")
    return fr.numerator, fr.denominator


def _inverse(x: float, what: str) -> int:
    num, den = _ratio(x, what)
    if num != 1:
        raise CExportError(f"features.py's {what} = {x} is not 1/N")
    return den


def constants() -> dict[str, str]:
    """The feature rules of edge_sdk/awb/features.py as C integer constants (exact fractions)."""
    sat_num, sat_den = _ratio(F.SAT_FRACTION, "SAT_FRACTION")
    swap_num, swap_den = _ratio(F.SWAP_MARGIN, "SWAP_MARGIN")
    return {
        "GRID_W": str(F.GRID[0]), "GRID_H": str(F.GRID[1]), "N_DEF": str(F.N_DEF),
        "N_FEATURES": str(F.N_FEATURES), "SAT_NUM": f"{sat_num}u", "SAT_DEN": f"{sat_den}u",
        "DARK_CH_DEN": f"{_inverse(F.DARK_MIN_CHANNEL, 'DARK_MIN_CHANNEL')}u",
        "DARK_SUM_DEN": f"{_inverse(F.DARK_MIN_SUM, 'DARK_MIN_SUM')}u",
        "MIN_VALID_CELLS": f"{F.MIN_VALID_CELLS}u",
        "BRIGHT_DEN": f"{_inverse(F.BRIGHTEST_FRACTION, 'BRIGHTEST_FRACTION')}u",
        "RIDGE_DEN": f"{_inverse(F.RIDGE, 'RIDGE')}u", "SWAP_NUM": f"{swap_num}u", "SWAP_DEN": f"{swap_den}u",
        "ROWS_KEPT": f"{F.ROWS_KEPT}u", "FINE_MIN_W": f"{F.FINE_MIN[0]}u", "FINE_MIN_H": f"{F.FINE_MIN[1]}u",
    }


def _cfloat(v: float) -> str:
    s = f"{float(v):.9g}"
    return (s if any(c in s for c in ".e") else s + ".0") + "f"


def _floats(a: np.ndarray) -> str:
    return ", ".join(_cfloat(float(v)) for v in np.asarray(a, np.float32).reshape(-1))


def _ints(a: np.ndarray | list[int], wrap: str = "") -> str:
    return ", ".join(f"{wrap}({int(v)})" if wrap else str(int(v)) for v in np.asarray(a).reshape(-1))


def _rows(a: np.ndarray, fmt: Callable[[np.ndarray], str]) -> str:
    return "{\n    " + ",\n    ".join("{" + fmt(r) + "}" for r in a) + "\n}"


def model_block(mlp: MLPWeights, q: Int8Model | None) -> str:
    if q is None:
        t = mlp.softplus_threshold
        return "\n".join([
            "/* EMLP weights (float32, row-major [out][in]) */",
            f"static const float W1[AWB_HIDDEN][AWB_N_FEATURES] = {_rows(mlp.w1, _floats)};",
            f"static const float B1[AWB_HIDDEN] = {{{_floats(mlp.b1)}}};",
            f"static const float W2[3][AWB_HIDDEN] = {_rows(mlp.w2, _floats)};",
            f"static const float B2[3] = {{{_floats(mlp.b2)}}};",
            f"#define SOFTPLUS_THRESHOLD {_cfloat(float(t) if t is not None else 3.0e38)}",
        ])
    n = len(q.softplus_q16)
    return "\n".join([
        "/* EMLP weights, int8 per output channel; see README.md for the fixed-point scheme */",
        f"const uint8_t awb_feature_q[AWB_N_FEATURES] = {{{_ints(q.feature_q)}}};",
        f"static const int8_t W1Q[AWB_HIDDEN][AWB_N_FEATURES] = {_rows(q.w1q, _ints)};",
        f"static const int32_t M1[AWB_HIDDEN] = {{{_ints(q.m1)}}};",
        f"static const int64_t B1Q[AWB_HIDDEN] = {{{_ints(q.b1q, 'INT64_C')}}};",
        f"#define SH1 {q.sh1}u",
        f"static const int8_t W2Q[3][AWB_HIDDEN] = {_rows(q.w2q, _ints)};",
        f"static const int32_t M2[3] = {{{_ints(q.m2)}}};",
        f"static const int64_t B2Q[3] = {{{_ints(q.b2q, 'INT64_C')}}};",
        f"#define SH2 {q.sh2}u",
        f"static const uint32_t SOFTPLUS_Q16[{n}] = {{{_ints(q.softplus_q16)}}};",
    ])


def render(text: str, values: dict[str, str]) -> str:
    out = re.sub(r"@@([A-Z0-9_]+)@@", lambda m: values[m.group(1)], text)
    return out


def vector_pairs() -> list[tuple[str, np.ndarray, np.ndarray, int, int]]:
    """The golden inputs: (name, long, short, black, white) from the synthetic test split."""
    from edge_sdk.data.dual_exposure import generate_scene

    pairs = []
    for name, seed, h, w, kind in VECTORS:
        sc = generate_scene(seed, "test", h, w)
        long, short = np.array(sc.long), np.array(sc.short)
        black, white = int(sc.black_level), int(sc.white_level)
        if kind == "saturated":
            long[:] = white
        elif kind == "grayworld":
            long[:] = white
            short = (black + (short.astype(np.int64) - black).clip(0) // 200).astype(np.uint16)
        elif kind == "black":
            long[:] = black
            short[:] = black
        pairs.append((name, long, short, black, white))
    return pairs


def write_vectors(out: Path, mlp: MLPWeights) -> None:
    from edge_sdk.pipelines.white_balance import WhiteBalance
    from runtimes.backends.numpy_mlp import NumpySession

    wb = WhiteBalance(NumpySession(mlp.onnx_path))
    vdir = out / "test_vectors"
    vdir.mkdir()
    lines = ["# name width height black white long short fallback gain_r gain_g gain_b  (python WhiteBalance)"]
    for name, long, short, black, white in vector_pairs():
        res = wb((long, short), white_level=white, black_level=black, correct=False)
        (vdir / f"{name}.long.rgb16").write_bytes(long.astype("<u2").tobytes())
        (vdir / f"{name}.short.rgb16").write_bytes(short.astype("<u2").tobytes())
        g = " ".join(f"{float(v):.9g}" for v in res.gains)
        lines.append(f"{name} {long.shape[1]} {long.shape[0]} {black} {white} {name}.long.rgb16 "
                     f"{name}.short.rgb16 {fallback_code(res.fallback)} {g}")
    (vdir / "vectors.txt").write_text("\n".join(lines) + "\n")


def measure(out: Path, precision: str) -> dict[str, int] | None:
    """.text / .rodata / .data / .bss of the library object and its deepest stack frame (gcc's
    -fstack-usage), compiled with cc -O2; None without a compiler."""
    cc, size = shutil.which("cc") or shutil.which("gcc"), shutil.which("size")
    if not cc or not size:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        obj = Path(tmp) / "awb_emlp.o"
        r = subprocess.run([cc, "-std=c99", "-O2", "-fstack-usage", "-c", str(out / "awb_emlp.c"), "-o", str(obj)],
                           capture_output=True, text=True, cwd=tmp, timeout=120)
        if r.returncode != 0:
            raise CExportError(f"the generated C does not compile ({precision}): {r.stderr.strip()[:400]}")
        sections = subprocess.run([size, "-A", str(obj)], capture_output=True, text=True, timeout=60).stdout
        result: dict[str, int] = {}
        for line in sections.splitlines():
            parts = line.split()
            if len(parts) >= 2 and parts[1].isdigit() and parts[0].startswith("."):
                key = parts[0].split(".")[1] if parts[0].count(".") > 1 else parts[0][1:]
                result[key] = result.get(key, 0) + int(parts[1])
        su = Path(tmp) / "awb_emlp.su"
        frames = [int(x.split("\t")[1]) for x in su.read_text().splitlines() if "\t" in x] if su.is_file() else []
        result["max_frame"] = max(frames, default=0)
        result["ctx"] = _ctx_size(cc, out, tmp)
        return result


def _ctx_size(cc: str, out: Path, tmp: str) -> int:
    src = Path(tmp) / "sz.c"
    src.write_text('#include <stdio.h>\n#include "awb_emlp.h"\nint main(void){printf("%lu\\n",'
                   "(unsigned long)sizeof(awb_ctx));return 0;}\n")
    exe = Path(tmp) / "sz"
    r = subprocess.run([cc, "-I", str(out), str(src), "-o", str(exe)], capture_output=True, timeout=60)
    if r.returncode != 0:
        return 0
    return int(subprocess.run([str(exe)], capture_output=True, text=True, timeout=60).stdout.strip() or 0)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_all(out: Path, mlp: MLPWeights, precision: str, q: Int8Model | None, vectors: bool = True) -> None:
    int8 = precision == "int8"
    values = {**constants(), "SOURCE": f"{mlp.name} ({mlp.onnx_path.name})", "PRECISION": precision,
              "INT8": "1" if int8 else "0", "HIDDEN": str(mlp.hidden), "CTX_KB": "213",
              "MODEL": model_block(mlp, q), "LIBM": "" if int8 else "-lm"}
    for name in ("awb_emlp.h", "awb_emlp.c", "Makefile"):
        (out / name).write_text(render(template(name), values))
    for name in ("awb_cli.c", "awb_test.c"):
        (out / name).write_text(template(name))
    if vectors:
        write_vectors(out, mlp)
    sizes = measure(out, precision)
    readme = render(template("README.md"), {**values, **readme_values(sizes, q)})
    (out / "README.md").write_text(readme)
    manifest = {
        "format": FORMAT, "schema": SCHEMA, "precision": precision, "model": mlp.name,
        "source_onnx_sha256": sha256(mlp.onnx_path), "gains": "unsigned Q4.12 (1.0 = 4096)",
        "feature_q": q.feature_q if q is not None else None, "sizes": sizes,
        "files": {p.relative_to(out).as_posix(): sha256(p) for p in sorted(out.rglob("*")) if p.is_file()},
    }
    (out / MARKER).write_text(json.dumps(manifest, indent=2) + "\n")


def readme_values(sizes: dict[str, int] | None, q: Int8Model | None) -> dict[str, str]:
    if sizes is None:
        mem = "(no C compiler at export time: run `make size`)"
    else:
        mem = (f"| `.text` | {sizes.get('text', 0)} B |\n| `.rodata` | {sizes.get('rodata', 0)} B |\n"
               f"| `.data` + `.bss` | {sizes.get('data', 0) + sizes.get('bss', 0)} B |\n"
               f"| deepest stack frame (gcc -fstack-usage) | {sizes.get('max_frame', 0)} B |\n"
               f"| `sizeof(awb_ctx)` | {sizes.get('ctx', 0)} B |")
    fq = ", ".join(str(v) for v in q.feature_q) if q is not None else "(float build: float32)"
    return {"MEMORY": mem, "FEATURE_Q": fq, "SH": f"SH1 = {q.sh1}, SH2 = {q.sh2}" if q is not None else "-"}
