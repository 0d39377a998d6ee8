"""Read an EMLP's weights from an exported bundle (``model.onnx``) or a bare ONNX file.

The C generator supports the EMLP graph shape: ``Linear(F, H) -> ReLU -> Linear(H, 3) -> Softplus``
(then an L2 normalisation, which the gains do not need). A linear layer is a ``Gemm`` (any
``transB``, ``alpha``/``beta``) or a ``MatMul`` followed by an ``Add`` of a constant bias. torch's
softplus export (``Where(Greater(x, t), x, Softplus(x))``) gives the threshold ``t``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edge_sdk.awb.features import N_FEATURES
from runtimes.errors import EdgeSDKError


class CExportError(EdgeSDKError):
    """The model or the output directory cannot be turned into the C white balance."""


@dataclass(frozen=True)
class MLPWeights:
    w1: np.ndarray  # (H, F) float32
    b1: np.ndarray  # (H,)
    w2: np.ndarray  # (3, H)
    b2: np.ndarray  # (3,)
    softplus_threshold: float | None  # x > t: softplus(x) = x (torch's export), None: exact softplus
    onnx_path: Path
    name: str

    @property
    def hidden(self) -> int:
        return int(self.w1.shape[0])


def find_onnx(source: str | Path) -> tuple[Path, str]:
    """``(model.onnx path, model name)`` of a bundle directory or an ONNX file."""
    path = Path(source)
    if path.is_dir():
        manifest = path / "manifest.json"
        if not manifest.is_file():
            raise CExportError(f"{path} is not an exported bundle (no manifest.json): "
                               "export the EMLP first: edge-sdk export emlp -o BUNDLE")
        try:
            meta = json.loads(manifest.read_text())
            artifact = path / str(meta["artifact"])
        except (ValueError, KeyError, TypeError) as e:
            raise CExportError(f"{manifest}: unreadable manifest ({e}); re-export the bundle") from None
        if artifact.suffix != ".onnx" or not artifact.is_file():
            raise CExportError(f"{path}: the bundle's artifact {artifact.name} is not an ONNX file; "
                               "export the EMLP bundle with --format onnx first")
        return artifact, str(meta.get("model", path.name))
    if path.is_file() and path.suffix == ".onnx":
        return path, path.stem
    raise CExportError(f"{source}: expected an EMLP bundle directory or a .onnx file")


def read_mlp(source: str | Path) -> MLPWeights:
    import onnx
    from onnx import numpy_helper

    path, name = find_onnx(source)
    try:
        model = onnx.load(str(path))
    except Exception as e:  # noqa: BLE001 - onnx raises many types for a corrupt file
        raise CExportError(f"cannot read {path} as ONNX: {str(e).splitlines()[0][:200]}") from None
    g = model.graph
    consts: dict[str, np.ndarray] = {i.name: numpy_helper.to_array(i) for i in g.initializer}
    nodes = []
    for n in g.node:
        attrs: dict[str, Any] = {a.name: onnx.helper.get_attribute_value(a) for a in n.attribute}
        if n.op_type == "Constant" and "value" in attrs:
            consts[n.output[0]] = numpy_helper.to_array(attrs["value"])
            continue
        nodes.append((n.op_type, list(n.input), list(n.output), attrs))

    layers: list[tuple[np.ndarray, np.ndarray]] = []
    acts: list[str] = []
    threshold: float | None = None
    i = 0
    while i < len(nodes):
        op, ins, outs, attrs = nodes[i]
        if op == "Gemm" and len(ins) >= 2 and ins[1] in consts:
            if attrs.get("transA", 0):
                break
            w = consts[ins[1]].astype(np.float64) * float(attrs.get("alpha", 1.0))
            w = w if attrs.get("transB", 0) else w.T  # -> (out, in)
            b = (consts[ins[2]].astype(np.float64) * float(attrs.get("beta", 1.0)) if len(ins) > 2 and ins[2]
                 else np.zeros(w.shape[0]))
            layers.append((w, np.broadcast_to(b.reshape(-1), (w.shape[0],)).copy()))
        elif op == "MatMul" and ins[1] in consts:
            w = consts[ins[1]].astype(np.float64).T
            b = np.zeros(w.shape[0])
            if i + 1 < len(nodes) and nodes[i + 1][0] == "Add":
                other = [k for k in nodes[i + 1][1] if k != outs[0]]
                if len(other) == 1 and other[0] in consts:
                    b = np.broadcast_to(consts[other[0]].astype(np.float64).reshape(-1), (w.shape[0],)).copy()
                    i += 1
            layers.append((w, b))
        elif op in ("Relu", "Softplus"):
            acts.append(op)
        elif op == "Greater" and len(ins) == 2 and ins[1] in consts and consts[ins[1]].size == 1:
            threshold = float(consts[ins[1]].reshape(-1)[0])
        i += 1
    ok = (len(layers) == 2 and acts == ["Relu", "Softplus"] and layers[0][0].shape[1] == N_FEATURES
          and layers[1][0].shape == (3, layers[0][0].shape[0]))
    if not ok:
        shapes = [tuple(w.shape) for w, _ in layers]
        raise CExportError(
            f"{path}: the C white balance supports the EMLP graph Linear({N_FEATURES}, H) -> ReLU -> Linear(H, 3) "
            f"-> Softplus; this graph has linear layers {shapes} and activations {acts}"
        )
    (w1, b1), (w2, b2) = layers
    w1, b1, w2, b2 = (a.astype(np.float32) for a in (w1, b1, w2, b2))
    if not all(np.isfinite(a).all() for a in (w1, b1, w2, b2)):
        raise CExportError(f"{path}: the model's weights are not all finite; retrain or re-export it")
    return MLPWeights(w1, b1, w2, b2, softplus_threshold=threshold, onnx_path=path, name=name)
