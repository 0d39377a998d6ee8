"""numpy backend for MLP graphs: the reference definition of what the fast backends compute.

It reads the ONNX graph and its initializers and executes the nodes in order with plain numpy.
Only MLP-style ops are supported (Gemm/MatMul, element-wise arithmetic and activations, reductions,
reshapes); any other graph is refused with a typed error naming the unsupported ops. For a model
of a few hundred parameters (emlp) this is the fastest path: no runtime, just a few matmuls.

A file that is not a usable graph (unreadable, empty, no nodes / inputs / outputs, a node reading a
tensor nothing defines before it) is refused at load with ``ManifestError``. ``close()`` drops the
compiled plan; calls already in flight finish on the plan they hold.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from runtimes.errors import BackendUnavailableError, ManifestError
from runtimes.manifest import Manifest
from runtimes.session import Session, TensorInfo, raise_closed

Array = np.ndarray
_F32 = np.dtype(np.float32)
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
            detail = str(e).strip().splitlines()[0][:200] if str(e).strip() else type(e).__name__
            raise ManifestError(f"cannot read {artifact} as ONNX: {detail}") from None
        g = model.graph
        if not g.node or not g.output or not [v for v in g.input if v.name not in {i.name for i in g.initializer}]:
            raise ManifestError(f"{artifact} is not a usable model: its graph has {len(g.node)} nodes, "
                                f"{len(g.input)} inputs, {len(g.output)} outputs (empty or junk file?); re-export it")
        unsupported = sorted({n.op_type for n in g.node if n.op_type not in OPS or n.domain not in ("", "ai.onnx")})
        if unsupported:
            raise BackendUnavailableError(
                f"the numpy backend runs MLP graphs only; {artifact.name} uses {', '.join(unsupported)}. "
                "Use backend \"onnxruntime\" instead"
            )
        try:
            consts, plan, inputs, outputs = _read_graph(onnx, numpy_helper, g)
        except ManifestError as e:
            raise ManifestError(f"{artifact}: {e}; re-export it") from None
        except (KeyError, ValueError, TypeError, IndexError, AttributeError) as e:
            raise ManifestError(f"{artifact}: cannot read its graph ({type(e).__name__}: {str(e)[:200]}); "
                                "re-export it") from None
        self._plan = plan
        self._out_names = [o.name for o in g.output]
        super().__init__(artifact, inputs, outputs, manifest, allow_nonfinite=allow_nonfinite)
        # one reference to everything a call needs: close() drops it, calls in flight keep theirs
        self._program: tuple[dict[str, Array], list[Step], list[str]] | None = (
            consts, _compile(plan, consts, set(self._out_names)), self._out_names)

    def _infer(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        program = self._program
        if program is None:
            raise_closed()
        consts, steps, out_names = program
        env: dict[str, Any] = {**consts, **feed}  # per call: safe across threads
        for step in steps:
            step(env)
        return {k: np.asarray(env[k], dtype=np.float32) for k in out_names}

    def _infer_single(self, x: np.ndarray) -> np.ndarray:
        program = self._program  # the same steps as _infer, without the feed and output dicts
        if program is None:
            raise_closed()
        consts, steps, out_names = program
        env: dict[str, Any] = dict(consts)
        env[self.inputs[0].name] = x
        for step in steps:
            step(env)
        y = env[out_names[0]]
        return y if type(y) is np.ndarray and y.dtype == _F32 else np.asarray(y, dtype=np.float32)

    def close(self) -> None:
        """Drop the compiled plan and constants. Idempotent."""
        self._closed = True
        self._program = None
        self._plan = []


def _read_graph(onnx: Any, numpy_helper: Any, g: Any) -> tuple[
        dict[str, Array], list[tuple[Op, list[str], list[str], dict[str, Any]]], list[TensorInfo], list[TensorInfo]]:
    """Constants, the node plan, and the input/output infos of a graph; ManifestError where a node reads a
    tensor nothing defines before it (a graph out of order or cut short) or an output is never produced."""
    consts: dict[str, Array] = {i.name: numpy_helper.to_array(i) for i in g.initializer}
    plan: list[tuple[Op, list[str], list[str], dict[str, Any]]] = []

    def info(v: Any) -> TensorInfo:
        t = v.type.tensor_type
        dims = tuple(d.dim_param if d.dim_param else d.dim_value for d in t.shape.dim)
        return TensorInfo(v.name, dims, str(onnx.helper.tensor_dtype_to_np_dtype(t.elem_type)))

    inputs = [info(v) for v in g.input if v.name not in consts]
    defined = set(consts) | {t.name for t in inputs}
    for n in g.node:
        missing = [k for k in n.input if k and k not in defined]
        if missing:
            raise ManifestError(f"node {n.name or n.op_type!r} reads {missing[0]!r}, which nothing defines before it")
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in n.attribute}
        defined.update(n.output)
        if n.op_type == "Constant":
            consts[n.output[0]] = numpy_helper.to_array(attrs["value"])
            continue
        attrs = {k: (numpy_helper.to_array(v) if isinstance(v, onnx.TensorProto) else v) for k, v in attrs.items()}
        plan.append((OPS[n.op_type], list(n.input), list(n.output), attrs))
    never = [o.name for o in g.output if o.name not in defined]
    if never:
        raise ManifestError(f"graph output {never[0]!r} is never computed")
    return consts, plan, inputs, [info(v) for v in g.output]


# -- the execution plan, compiled once at load ------------------------------------------------------
# For a model of a few hundred parameters the per-node Python plumbing (attribute lookups, list
# building, axes parsing) costs more than the arithmetic. Each node becomes one closure with its
# constants and attributes bound; common ops call the numpy ufunc directly. Same results as OPS.
Step = Callable[[dict[str, Any]], None]
_UFUNCS: dict[str, Any] = {
    "MatMul": np.matmul, "Add": np.add, "Sub": np.subtract, "Mul": np.multiply, "Div": np.divide,
    "Greater": np.greater, "Less": np.less, "Equal": np.equal, "Sqrt": np.sqrt, "Exp": np.exp, "Tanh": np.tanh,
    "Abs": np.abs, "Log": np.log, "Neg": np.negative, "Reciprocal": np.reciprocal,
}
_REDUCE_UFUNCS: dict[str, Any] = {"ReduceSum": np.add, "ReduceMax": np.maximum}
SOFTPLUS_EXACT_ABOVE = 17.0  # float32: log1p(exp(-x)) < ulp(x) / 2 for x >= 17, so softplus(x) rounds to x


def _arg(name: str, consts: dict[str, Array]) -> tuple[bool, Any]:
    return (True, consts[name]) if name in consts else (False, name)


def _compile_node(op_type: str, ins: list[str], out: str, attrs: dict[str, Any],
                  consts: dict[str, Array], relu: bool = False) -> Step | None:
    """A fast closure for common node shapes, or None (the generic OPS entry is used).
    ``relu``: a Gemm whose only consumer is a Relu writing ``out`` (fused, in place)."""
    if op_type == "Gemm" and len(ins) >= 2 and ins[1] in consts and not attrs.get("transA", 0) \
            and attrs.get("alpha", 1.0) == 1.0 and attrs.get("beta", 1.0) == 1.0:
        w = np.ascontiguousarray(consts[ins[1]].T if attrs.get("transB", 0) else consts[ins[1]])
        a = ins[0]
        if len(ins) > 2 and ins[2]:
            if ins[2] not in consts:
                return None
            b = consts[ins[2]]
            if relu and b.dtype == w.dtype and b.ndim <= 1:
                # operators, not np.matmul(...)/np.add(..., out=): the least Python per call on a tiny MLP
                def gemm_relu(env: dict[str, Any]) -> None:
                    h = env[a] @ w  # a fresh array: safe to update in place
                    h += b
                    env[out] = np.maximum(h, 0, out=h)
                return gemm_relu
            if relu:
                return None

            def gemm(env: dict[str, Any]) -> None:
                env[out] = env[a] @ w + b
            return gemm
        if relu:
            return None

        def matmul(env: dict[str, Any]) -> None:
            env[out] = env[a] @ w
        return matmul
    if op_type in _UFUNCS and len(ins) in (1, 2) and all(ins):
        f = _UFUNCS[op_type]
        if len(ins) == 1:
            a = ins[0]

            def unary(env: dict[str, Any]) -> None:
                env[out] = f(env[a])
            return unary
        (ca, a), (cb, b) = _arg(ins[0], consts), _arg(ins[1], consts)
        if not ca and cb:
            def binary_const(env: dict[str, Any]) -> None:
                env[out] = f(env[a], b)
            return binary_const
        if not ca and not cb:
            def binary(env: dict[str, Any]) -> None:
                env[out] = f(env[a], env[b])
            return binary
        return None
    if op_type == "Relu":
        a = ins[0]

        def relu_step(env: dict[str, Any]) -> None:
            env[out] = np.maximum(env[a], 0)
        return relu_step
    if op_type in _REDUCE_UFUNCS and (len(ins) < 2 or not ins[1] or ins[1] in consts):
        axes = _axes([None, consts[ins[1]]] if len(ins) > 1 and ins[1] else [None], attrs)
        if axes is None and attrs.get("noop_with_empty_axes", 0):
            return None
        f, a, keep = _REDUCE_UFUNCS[op_type], ins[0], bool(attrs.get("keepdims", 1))

        def reduce(env: dict[str, Any]) -> None:
            env[out] = f.reduce(env[a], axis=axes, keepdims=keep)
        return reduce
    return None


def _compile(plan: list[tuple[Op, list[str], list[str], dict[str, Any]]], consts: dict[str, Array],
             graph_outputs: set[str]) -> list[Step]:
    types = {id(v): k for k, v in OPS.items()}  # plan entries hold the OPS functions themselves
    nodes = [(types.get(id(op), ""), op, ins, outs, attrs) for op, ins, outs, attrs in plan]
    uses: dict[str, int] = {}
    for _, _, ins, _, _ in nodes:
        for k in ins:
            uses[k] = uses.get(k, 0) + 1
    steps: list[Step] = []
    i = 0
    while i < len(nodes):
        op_type, op, ins, outs, attrs = nodes[i]
        # torch's softplus export: Where(Greater(x, t), x, Softplus(x)) with t >= 17 is softplus(x) itself
        if op_type == "Softplus" and i + 2 < len(nodes):
            (g_t, _, g_in, g_out, _), (w_t, _, w_in, w_out, _) = nodes[i + 1], nodes[i + 2]
            t = consts.get(g_in[1]) if g_t == "Greater" and len(g_in) == 2 and g_in[0] == ins[0] else None
            if (t is not None and t.size == 1 and float(t) >= SOFTPLUS_EXACT_ABOVE and w_t == "Where"
                    and w_in == [g_out[0], ins[0], outs[0]] and uses.get(g_out[0]) == 1 and uses.get(outs[0]) == 1
                    and not {g_out[0], outs[0]} & graph_outputs):
                steps.append(_softplus(ins[0], w_out[0]))
                i += 3
                continue
        # x / sqrt(sum(x * x, axes, keepdims)): the L2 normalisation at the end of emlp, one step
        if op_type == "Mul" and len(ins) == 2 and ins[0] == ins[1] and i + 3 < len(nodes):
            (r_t, _, r_in, r_out, r_at), (q_t, _, q_in, q_out, _), (d_t, _, d_in, d_out, _) = nodes[i + 1: i + 4]
            inner = [outs[0], r_out[0], q_out[0]]
            if (r_t == "ReduceSum" and r_in[0] == outs[0] and (len(r_in) < 2 or not r_in[1] or r_in[1] in consts)
                    and r_at.get("keepdims", 1) and q_t == "Sqrt" and q_in == r_out and d_t == "Div"
                    and d_in == [ins[0], q_out[0]] and all(uses.get(k) == 1 for k in inner)
                    and not set(inner) & graph_outputs):
                axes = _axes([None, consts[r_in[1]]] if len(r_in) > 1 and r_in[1] else [None], r_at)
                if axes is not None or not r_at.get("noop_with_empty_axes", 0):
                    steps.append(_l2_normalize(ins[0], d_out[0], axes))
                    i += 4
                    continue
        if op_type == "Gemm" and i + 1 < len(nodes) and len(outs) == 1:
            r_t, _, r_in, r_out, _ = nodes[i + 1]
            if r_t == "Relu" and r_in == outs[0:1] and uses.get(outs[0]) == 1 and outs[0] not in graph_outputs:
                fused = _compile_node(op_type, ins, r_out[0], attrs, consts, relu=True)
                if fused is not None:
                    steps.append(fused)
                    i += 2
                    continue
        fast = _compile_node(op_type, ins, outs[0], attrs, consts) if len(outs) == 1 else None
        steps.append(fast or _generic(op, ins, outs, attrs))
        i += 1
    return steps


def _l2_normalize(a: str, out: str, axes: tuple[int, ...] | None) -> Step:
    def l2_normalize(env: dict[str, Any]) -> None:
        x = env[a]
        env[out] = x / np.sqrt(np.add.reduce(x * x, axis=axes, keepdims=True))
    return l2_normalize


def _softplus(a: str, out: str) -> Step:
    def softplus(env: dict[str, Any]) -> None:
        env[out] = np.logaddexp(0, env[a])
    return softplus


def _generic(op: Op, ins: list[str], outs: list[str], attrs: dict[str, Any]) -> Step:
    def step(env: dict[str, Any]) -> None:
        for name, value in zip(outs, op([env[k] if k else None for k in ins], attrs)):
            env[name] = value
    return step
