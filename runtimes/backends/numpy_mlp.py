"""numpy backend for MLP graphs: the reference definition of what the fast backends compute.

It reads the ONNX graph and its initializers and executes the nodes in order with plain numpy.
Only MLP-style ops are supported (Gemm/MatMul, element-wise arithmetic and activations, reductions,
reshapes); any other graph is refused with a typed error naming the unsupported ops. For a model
of a few hundred parameters (emlp) this is the fastest path: no runtime, just a few matmuls.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from runtimes.errors import BackendUnavailableError, ManifestError
from runtimes.manifest import Manifest
from runtimes.session import Session, TensorInfo

Array = np.ndarray
Op = Callable[[list[Any], dict[str, Any]], list[Array]]


def _axes(inputs: list[Any], attrs: dict[str, Any]) -> tuple[int, ...] | None:
    axes = inputs[1] if len(inputs) > 1 and inputs[1] is not None else attrs.get("axes")
    if axes is None or len(axes) == 0:
        return None
    return tuple(int(a) for a in np.asarray(axes).ravel())


def _reduce(fn: Callable[..., Array]) -> Op:
    def op(i: list[Any], a: dict[str, Any]) -> list[Array]:
        axes = _axes(i, a)
        if axes is None and a.get("noop_with_empty_axes", 0):
            return [i[0]]
        return [fn(i[0], axis=axes, keepdims=bool(a.get("keepdims", 1)))]
    return op


def _gemm(i: list[Any], a: dict[str, Any]) -> list[Array]:
    x = i[0].T if a.get("transA", 0) else i[0]
    w = i[1].T if a.get("transB", 0) else i[1]
    y = a.get("alpha", 1.0) * (x @ w)
    if len(i) > 2 and i[2] is not None:
        y = y + a.get("beta", 1.0) * i[2]
    return [y]


def _reshape(i: list[Any], a: dict[str, Any]) -> list[Array]:
    shape = [int(s) for s in i[1]]
    if not a.get("allowzero", 0):
        shape = [i[0].shape[k] if s == 0 else s for k, s in enumerate(shape)]
    return [i[0].reshape(shape)]


def _softmax(i: list[Any], a: dict[str, Any]) -> list[Array]:
    x = i[0] - i[0].max(axis=a.get("axis", -1), keepdims=True)
    e = np.exp(x)
    return [e / e.sum(axis=a.get("axis", -1), keepdims=True)]


def _clip(i: list[Any], a: dict[str, Any]) -> list[Array]:
    lo = i[1] if len(i) > 1 and i[1] is not None else a.get("min")
    hi = i[2] if len(i) > 2 and i[2] is not None else a.get("max")
    return [np.clip(i[0], lo, hi)]


def _lpnorm(i: list[Any], a: dict[str, Any]) -> list[Array]:
    p, axis = a.get("p", 2), a.get("axis", -1)
    n = np.linalg.norm(i[0], ord=p, axis=axis, keepdims=True)
    return [i[0] / n]


def _unary(fn: Callable[[Array], Array]) -> Op:
    return lambda i, a: [fn(i[0])]


def _binary(fn: Callable[[Array, Array], Array]) -> Op:
    return lambda i, a: [fn(i[0], i[1])]


OPS: dict[str, Op] = {
    "Gemm": _gemm,
    "MatMul": _binary(np.matmul),
    "Add": _binary(np.add), "Sub": _binary(np.subtract), "Mul": _binary(np.multiply), "Div": _binary(np.divide),
    "Pow": _binary(np.power), "Max": lambda i, a: [np.maximum.reduce(i)], "Min": lambda i, a: [np.minimum.reduce(i)],
    "Relu": _unary(lambda x: np.maximum(x, 0)),
    "LeakyRelu": lambda i, a: [np.where(i[0] > 0, i[0], a.get("alpha", 0.01) * i[0])],
    "Sigmoid": _unary(lambda x: 1 / (1 + np.exp(-x))), "Tanh": _unary(np.tanh),
    "Softplus": _unary(lambda x: np.logaddexp(0, x)), "Abs": _unary(np.abs), "Exp": _unary(np.exp),
    "Log": _unary(np.log), "Sqrt": _unary(np.sqrt), "Neg": _unary(np.negative), "Reciprocal": _unary(np.reciprocal),
    "Greater": _binary(np.greater), "Less": _binary(np.less), "Equal": _binary(np.equal),
    "Where": lambda i, a: [np.asarray(np.where(i[0], i[1], i[2]))],
    "Identity": _unary(lambda x: x), "Clip": _clip, "Softmax": _softmax, "LpNormalization": _lpnorm,
    "ReduceSum": _reduce(np.sum), "ReduceMean": _reduce(np.mean), "ReduceMax": _reduce(np.max),
    "ReduceL2": _reduce(lambda x, axis, keepdims: np.sqrt(np.sum(x * x, axis=axis, keepdims=keepdims))),
    "ReduceSumSquare": _reduce(lambda x, axis, keepdims: np.sum(x * x, axis=axis, keepdims=keepdims)),
    "Reshape": _reshape,
    "Flatten": lambda i, a: [i[0].reshape(int(np.prod(i[0].shape[: a.get("axis", 1)])), -1)],
    "Concat": lambda i, a: [np.concatenate(i, axis=a["axis"])],
    "Unsqueeze": lambda i, a: [np.expand_dims(i[0], _axes(i, a) or ())],
    "Squeeze": lambda i, a: [np.squeeze(i[0], _axes(i, a))],
    "Cast": lambda i, a: [i[0].astype(np.float32) if a.get("to") == 1 else i[0]],
}


class NumpySession(Session):
    backend = "numpy"

    def __init__(self, artifact: Path, manifest: Manifest | None = None, *, allow_nonfinite: bool = False) -> None:
        try:
            import onnx
            from onnx import numpy_helper
        except ImportError:
            raise BackendUnavailableError("the numpy backend reads ONNX files with the onnx package: "
                                          "pip install onnx") from None
        try:
            model = onnx.load(str(artifact))
        except Exception as e:
            raise ManifestError(f"cannot read {artifact} as ONNX: {str(e).splitlines()[0][:200]}") from None
        g = model.graph
        unsupported = sorted({n.op_type for n in g.node if n.op_type not in OPS or n.domain not in ("", "ai.onnx")})
        if unsupported:
            raise BackendUnavailableError(
                f"the numpy backend runs MLP graphs only; {artifact.name} uses {', '.join(unsupported)}. "
                "Use backend='onnxruntime'"
            )
        self._consts: dict[str, Array] = {i.name: numpy_helper.to_array(i) for i in g.initializer}
        self._plan: list[tuple[Op, list[str], list[str], dict[str, Any]]] = []
        for n in g.node:
            attrs = {a.name: onnx.helper.get_attribute_value(a) for a in n.attribute}
            if n.op_type == "Constant":
                self._consts[n.output[0]] = numpy_helper.to_array(attrs["value"])
                continue
            attrs = {k: (numpy_helper.to_array(v) if isinstance(v, onnx.TensorProto) else v) for k, v in attrs.items()}
            self._plan.append((OPS[n.op_type], list(n.input), list(n.output), attrs))
        inits = set(self._consts)

        def info(v: Any) -> TensorInfo:
            dims = tuple(d.dim_param if d.dim_param else d.dim_value for d in v.type.tensor_type.shape.dim)
            return TensorInfo(v.name, dims, str(onnx.helper.tensor_dtype_to_np_dtype(v.type.tensor_type.elem_type)))

        self._out_names = [o.name for o in g.output]
        super().__init__(artifact, [info(v) for v in g.input if v.name not in inits], [info(v) for v in g.output],
                         manifest, allow_nonfinite=allow_nonfinite)

    def _infer(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        env: dict[str, Any] = {**self._consts, **feed}  # per call: safe across threads
        for op, ins, outs, attrs in self._plan:
            results = op([env[k] if k else None for k in ins], attrs)
            for name, value in zip(outs, results):
                env[name] = value
        return {k: np.asarray(env[k], dtype=np.float32) for k in self._out_names}
