"""The one precision table: every precision a bundle can have, how it is built, whether it needs
calibration data, its accuracy budgets, and whether TensorRT can build an engine from it (and why not).

It lives in the runtime (the lowest layer) because the device side reads it too: the TensorRT engine
builder refuses precisions TensorRT cannot build, with the reason. Adding a precision touches this
table (plus its builder in :mod:`converters.quantize`). Imports nothing
heavy (no torch, no onnx), so the CLI's ``--help`` can read it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Precision:
    name: str
    build: str  # "copy" | "fp16" | "int8-static" | "int8-dynamic"
    help: str
    calibration: bool = False  # needs calibration samples
    # for int8-static: "tensorrt" (symmetric, TensorRT placement), "cpu" (ONNX Runtime's CPU recipe) or "openvino"
    # (TensorRT's placement with 7-bit weights)
    int8_target: str | None = None
    # budgets (drop of the task metric vs PyTorch FP32): top-1 pp, mean angular error deg, output SQNR dB (minimum)
    top1_pp: float = 0.5
    angle_deg: float = 0.15
    sqnr_db: float = 25.0
    tensorrt: str | None = None  # None: TensorRT builds it; else why it cannot
    mixed: bool = False  # INT8 that may keep its most sensitive nodes in float to meet the budget

    @property
    def int8(self) -> bool:
        return self.build.startswith("int8")


TABLE: dict[str, Precision] = {p.name: p for p in (
    Precision("fp32", "copy", "plain export", top1_pp=0.1, angle_deg=0.01, sqnr_db=60.0),
    Precision("fp16", "fp16", "FP16 weights/compute, FP32 I/O; normalisations and divisions kept in FP32",
              top1_pp=0.1, angle_deg=0.05, sqnr_db=40.0),
    Precision("int8", "int8-static", "static INT8 QDQ, symmetric (zero point 0), per-channel weights: runs in ONNX "
              "Runtime and converts to a TensorRT engine with explicit quantization",
              calibration=True, int8_target="tensorrt", mixed=True),
    Precision("int8-cpu", "int8-static", "static INT8 the way ONNX Runtime's CPU kernels run fastest: uint8 "
              "activations with zero points, int8 per-channel weights, every quantizable op in QDQ",
              calibration=True, int8_target="cpu", mixed=True,
              tensorrt="uint8 activations with zero points: ONNX Runtime's CPU format"),
    Precision("int8-openvino", "int8-static", "static INT8 for OpenVINO on CPUs: symmetric QDQ on compute-layer "
              "inputs (TensorRT's placement, which OpenVINO's CPU plugin runs as INT8 kernels) with 7-bit weights: "
              "x86 CPUs without VNNI saturate full-range INT8 weights in OpenVINO's kernels",
              calibration=True, int8_target="openvino", mixed=True,
              tensorrt="7-bit weights for CPUs without VNNI: export int8 for TensorRT"),
    Precision("int8-dynamic", "int8-dynamic", "weights INT8 (7-bit range: x86 CPUs without VNNI saturate on full-range "
              "U8S8), activations quantized at run time (good for MLPs)",
              mixed=True, tensorrt="activations quantized at run time: an ONNX Runtime op"),
)}

PRECISIONS = tuple(TABLE)  # what a bundle's manifest may say
CHOICES = (*PRECISIONS, "auto")  # what export accepts: auto builds the candidates and keeps the fastest in budget
STATIC_INT8 = tuple(p.name for p in TABLE.values() if p.calibration)
TENSORRT = tuple(p.name for p in TABLE.values() if p.tensorrt is None)
NOT_FOR_TENSORRT = {p.name: p.tensorrt for p in TABLE.values() if p.tensorrt is not None}
CALIB_METHODS = ("minmax", "entropy", "percentile")

BUDGETS: dict[str, dict[str, float]] = {
    "classification": {p.name: p.top1_pp for p in TABLE.values()},
    "illuminant-estimation": {p.name: p.angle_deg for p in TABLE.values()},
    "sqnr": {p.name: p.sqnr_db for p in TABLE.values()},
}


def get(name: str) -> Precision:
    """The table's row for ``name``; an unknown name raises the typed error listing the choices."""
    try:
        return TABLE[name]
    except KeyError:
        from runtimes.errors import EdgeSDKError

        raise EdgeSDKError(f"unknown precision {name!r}; choose one of {', '.join(CHOICES)}") from None
