"""FP32 vs full INT8 vs accuracy-aware (mixed) INT8, per model: metric, INT8 MAC share, latency.

    python tools/mixed_precision_table.py [--models emlp,compact-cnn,...] [--precision int8] [--json FILE]

Each model is exported three times through the same code path as ``edge-sdk export``: fp32, INT8 with
``strict=True, allow_accuracy_loss=True`` (full INT8, whatever its accuracy) and INT8 as shipped (the most
sensitive nodes kept in float when full INT8 breaks the budget). Latency: median single-sample latency
through the runtime (ONNX Runtime, CPU), the three models timed round-robin. Models from outside the zoo
are made here (random or fixed weights, seeded) and validated on seeded random-normal inputs (SQNR budget).
"""

from __future__ import annotations

import argparse
import json
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from converters import export
from converters.auto import median_latencies_ms
from converters.mixed_precision import full_record
from edge_sdk.errors import ParityError
from runtimes.manifest import read_manifest


class OutlierMLP(torch.nn.Module):
    """An MLP whose head sees rare huge activations (feature 0 beyond 4 sigma adds 1000): a layer whose
    calibrated range is dominated by outliers, as in box-regression heads."""

    def __init__(self) -> None:
        super().__init__()
        self.fc1, self.fc2, self.head = torch.nn.Linear(16, 64), torch.nn.Linear(64, 64), torch.nn.Linear(64, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.fc2(torch.relu(self.fc1(x))))
        return self.head(h + 1000.0 * torch.relu(x[:, :1] - 4.0))


class TinyDet(torch.nn.Module):
    """A small detector-shaped CNN (random init): a depthwise-separable backbone and two heads, class
    logits and box regression (pixel units, large range)."""

    def __init__(self) -> None:
        super().__init__()

        def block(cin: int, cout: int, stride: int) -> torch.nn.Sequential:
            return torch.nn.Sequential(
                torch.nn.Conv2d(cin, cin, 3, stride, 1, groups=cin), torch.nn.BatchNorm2d(cin), torch.nn.ReLU6(),
                torch.nn.Conv2d(cin, cout, 1), torch.nn.BatchNorm2d(cout), torch.nn.ReLU6())

        self.stem = torch.nn.Sequential(torch.nn.Conv2d(3, 16, 3, 2, 1), torch.nn.BatchNorm2d(16), torch.nn.ReLU6())
        self.body = torch.nn.Sequential(block(16, 32, 2), block(32, 64, 2), block(64, 64, 1), block(64, 96, 2))
        self.cls = torch.nn.Conv2d(96, 10, 1)
        self.box = torch.nn.Conv2d(96, 4, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        f = self.body(self.stem(x))
        return self.cls(f).flatten(1), 320.0 * torch.sigmoid(self.box(f)).flatten(1)


def _outlier_calib() -> np.ndarray:
    x = np.random.default_rng(1).standard_normal((128, 16)).astype(np.float32)
    x[:2, 0] = 5.0
    return x


def _det() -> torch.nn.Module:
    torch.manual_seed(0)
    net = TinyDet()
    net.train()
    with torch.no_grad():  # settle BatchNorm statistics on the calibration distribution
        for _ in range(20):
            net(torch.rand(16, 3, 96, 96))
    return net.eval()


def _outlier() -> torch.nn.Module:
    torch.manual_seed(0)
    return OutlierMLP().eval()


OUTSIDE: dict[str, tuple[Callable[[], torch.nn.Module], tuple[int, ...], Callable[[], np.ndarray]]] = {
    "outlier-mlp": (_outlier, (1, 16), _outlier_calib),
    "tiny-det": (_det, (1, 3, 96, 96), lambda: np.random.default_rng(1).random((64, 3, 96, 96), np.float32)),
}


def _export(name: str, out: Path, precision: str, **kw: Any) -> Path:
    if name in OUTSIDE:
        make, shape, calib = OUTSIDE[name]
        return export(make(), out, input_shape=shape, precision=precision,
                      calibration=calib() if precision != "fp32" else None, show_progress=False,
                      log=lambda m: None, **kw)
    return export(name, out, precision=precision, show_progress=False, log=lambda m: None, **kw)


def _metric(m: Any) -> str:  # a Manifest
    met = m.parity["metric"]
    if met["name"] == "output_sqnr":
        return f"SQNR {met['candidate']:.1f} dB"
    unit = "%" if met["unit"] == "pp" else f" {met['unit']}"  # top-1 is an accuracy; its delta is in pp
    return f"{met['name']} {met['candidate']:.4g}{unit}"


def row(name: str, precision: str, root: Path) -> dict[str, Any]:
    fp32 = _export(name, root / f"{name}-fp32", "fp32")
    full = _export(name, root / f"{name}-{precision}-full", precision, strict=True, allow_accuracy_loss=True)
    mixed: Path | None = full  # within budget at full INT8: the shipped bundle is the same
    if not (read_manifest(full).parity or {}).get("passed"):
        try:
            mixed = _export(name, root / f"{name}-{precision}-mixed", precision)
        except ParityError:
            mixed = None
    paths = {"fp32": fp32 / "model.onnx", "full": full / "model.onnx"}
    if mixed is not None and mixed != full:  # the same file when full INT8 is within budget: timed once
        paths["mixed"] = mixed / "model.onnx"
    sample = np.random.default_rng(0).standard_normal(read_manifest(fp32).extra["input_shape"]).astype(np.float32)
    latency = median_latencies_ms(paths, sample)
    mf, mm = read_manifest(full), read_manifest(mixed) if mixed is not None else None
    rec = (mm.extra.get("mixed_precision") if mm is not None else None) or {}
    shares = rec or full_record(fp32 / "model.onnx", precision)
    return {
        "model": name, "precision": precision, "fp32": _metric(read_manifest(fp32)), "fp32_ms": latency["fp32"],
        "full": _metric(mf), "full_passed": bool((mf.parity or {}).get("passed")), "full_ms": latency["full"],
        "mixed": _metric(mm) if mm is not None else "refused",
        "mixed_ms": latency.get("mixed", latency["full"] if mixed is not None else None),
        "float_nodes": len(rec.get("float_nodes", [])), "quantizable": shares["quantizable_nodes"],
        "int8_macs": shares["int8_mac_fraction"] if mm is not None else 0.0,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default="emlp,compact-cnn,care-tiny,care-s0,outlier-mlp,tiny-det")
    ap.add_argument("--precision", default="int8", choices=["int8", "int8-cpu", "int8-dynamic"])
    ap.add_argument("--json", type=Path, help="also write the rows as JSON")
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="edge-sdk-mixed-") as tmp:
        for name in args.models.split(","):
            rows.append(row(name, args.precision, Path(tmp)))
            print(json.dumps(rows[-1]), flush=True)
    print(f"\n| model | FP32 | full {args.precision} (within budget?) | mixed {args.precision} | nodes in float | "
          "INT8 MACs | latency FP32 / full / mixed (ms) |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        mixed_ms = f"{r['mixed_ms']:.3f}" if r["mixed_ms"] is not None else "—"
        print(f"| {r['model']} | {r['fp32']} | {r['full']} ({'yes' if r['full_passed'] else 'no'}) | {r['mixed']} | "
              f"{r['float_nodes']} of {r['quantizable']} | {100 * r['int8_macs']:.0f} % | "
              f"{r['fp32_ms']:.3f} / {r['full_ms']:.3f} / {mixed_ms} |")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
