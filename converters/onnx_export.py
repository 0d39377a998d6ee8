"""Step 1: PyTorch module -> plain single-file ONNX with a dynamic batch, checked by onnx's checker."""

from __future__ import annotations

import contextlib
import io
import logging
import threading
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path

import numpy as np
import onnx
import onnx.numpy_helper
import torch

from edge_sdk._io import atomic_path
from edge_sdk.errors import EdgeSDKError

DEFAULT_OPSET = 18
MIN_OPSET = 7  # the oldest ONNX Runtime runs; torch exports 18 and converts down, which some models refuse
INPUT_NAME = "input"
_CHATTY = ("torch.onnx._internal.exporter._compat", "onnxscript.version_converter")
_EXPORT_LOCK = threading.Lock()  # torch.export traces with process-global state: one at a time


def default_output_names(count: int) -> list[str]:
    """``output`` for one output, else ``output0``, ``output1``, ... in forward() order."""
    return ["output"] if count == 1 else [f"output{i}" for i in range(count)]


def max_opset() -> int:
    """The newest opset the installed onnx package knows (its checker refuses anything newer)."""
    return int(onnx.defs.onnx_opset_version())


def check_opset(opset: int) -> None:
    """Refuse an opset no exporter here can write, before any conversion work."""
    if isinstance(opset, bool) or not isinstance(opset, int) or not MIN_OPSET <= opset <= max_opset():
        raise EdgeSDKError(f"unsupported ONNX opset {opset!r}: choose {MIN_OPSET}..{max_opset()} "
                           f"(default {DEFAULT_OPSET})")


def model_opset(path: Path | str) -> int:
    """The default-domain (ai.onnx) opset an ONNX file declares."""
    model = onnx.load(str(path), load_external_data=False)
    return next((int(o.version) for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)


def export_onnx(
    module: torch.nn.Module,
    input_shape: tuple[int, ...],
    path: Path,
    *,
    opset: int = DEFAULT_OPSET,
    output_names: list[str] | None = None,
    dynamic_axes: Mapping[int, str] | None = None,
    verbose: bool = False,
) -> Path:
    """Export with torch's dynamo exporter; the batch dim is symbolic ("batch"), and so is each input axis
    in ``dynamic_axes`` (axis -> name, e.g. ``{2: "height", 3: "width"}`` for a fully convolutional model).

    ``input_shape`` is one sample without the batch. The example batch is 2 because torch.export
    specialises dims of size 1. Outputs are named ``output_names`` (in forward() order), by default
    :func:`default_output_names`. The result is one file (no external data) that passes
    ``onnx.checker.check_model(full_check=True)`` and declares ``opset`` (torch falls back to its own
    opset when it cannot convert; that is refused here, so a manifest never records an opset the file lacks).
    """
    check_opset(opset)
    module = module.eval()
    example = torch.randn((2, *input_shape), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        out = module(example)
    n_out = len(out) if isinstance(out, (tuple, list)) else 1
    names = output_names or default_output_names(n_out)
    if len(names) != n_out:
        raise EdgeSDKError(f"{len(names)} output names for a model with {n_out} outputs")
    dynamic = {INPUT_NAME: {0: "batch", **(dynamic_axes or {})}, **{n: {0: "batch"} for n in names}}
    sink = io.StringIO()
    logging.getLogger("torch.onnx._internal.exporter._registration").setLevel(logging.ERROR)
    with atomic_path(path) as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        redirect = contextlib.nullcontext() if verbose else contextlib.redirect_stdout(sink)
        try:
            with _EXPORT_LOCK, _quiet_loggers(not verbose), redirect, torch.no_grad():
                torch.onnx.export(
                    module, (example,), str(tmp), dynamo=True, external_data=False, opset_version=opset,
                    input_names=[INPUT_NAME], output_names=names, dynamic_axes=dynamic,
                )
        except Exception as e:
            if isinstance(e, OSError) and e.errno is not None:
                raise  # writing the output (in export's temporary work dir) failed: the caller says so
            last = str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__
            raise EdgeSDKError(f"ONNX export failed ({type(e).__name__}): {last}") from e
        slim(tmp)
        check(tmp)
        got = model_opset(tmp)
        if got != opset:
            raise EdgeSDKError(f"the ONNX exporter cannot write this model at opset {opset} (it converted it to "
                               f"opset {got} instead); use --opset {got}")
    return path


@contextlib.contextmanager
def _quiet_loggers(quiet: bool) -> Iterator[None]:
    """Hide the opset down-conversion chatter (a warning with a traceback when it fails: we report that)."""
    loggers = [logging.getLogger(n) for n in _CHATTY] if quiet else []
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


def slim(path: Path | str, short_names: bool = False) -> None:
    """Drop what only debugging needs: per-node metadata (the exporter's Python stack traces),
    doc strings and intermediate value_info (runtimes infer shapes themselves). Often a third of
    a small model's file; the graph and its weights are untouched.

    ``short_names`` also renames intermediate activations (``t0``, ``t1``, ...) and nodes
    (``Conv3``): a QDQ graph has ~4 tensors per layer with 40-character generated names, which on
    a 15k-parameter INT8 model weigh as much as the weights. Inputs, outputs and initializers keep
    their names (they map back to the PyTorch state dict).
    """
    model = onnx.load(str(path))
    if short_names:
        _shorten(model.graph)
    graphs = [model.graph] + [a.g for n in model.graph.node for a in n.attribute if a.HasField("g")]
    for g in graphs:
        g.doc_string = ""
        del g.value_info[:]
        for n in g.node:
            n.doc_string = ""
            del n.metadata_props[:]
    onnx.save(model, str(path))


def check(path: Path | str) -> None:
    """onnx's full checker (with shape inference); raises EdgeSDKError on any violation."""
    try:
        onnx.checker.check_model(onnx.load(str(path)), full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as e:
        raise EdgeSDKError(f"{path} fails onnx.checker: {str(e).splitlines()[0]}") from e


def io_specs(path: Path | str) -> tuple[list[dict[str, object]], list[dict[str, object]]]:
    """Names, shapes (symbolic dims as strings) and numpy dtypes of a model's inputs and outputs."""
    from onnx.helper import tensor_dtype_to_np_dtype

    model = onnx.load(str(path), load_external_data=False)

    def spec(v: onnx.ValueInfoProto) -> dict[str, object]:
        t = v.type.tensor_type
        shape = [d.dim_param if d.dim_param else d.dim_value for d in t.shape.dim]
        return {"name": v.name, "shape": shape, "dtype": str(tensor_dtype_to_np_dtype(t.elem_type))}

    inits = {i.name for i in model.graph.initializer}
    return [spec(v) for v in model.graph.input if v.name not in inits], [spec(v) for v in model.graph.output]


def _shorten(g: onnx.GraphProto) -> None:
    """Short names for intermediates and nodes; small constants (scales, zero points) deduplicated."""
    keep = {v.name for v in g.input} | {v.name for v in g.output}
    rename: dict[str, str] = {}
    seen: dict[tuple[int, tuple[int, ...], bytes], str] = {}
    small = []
    for init in g.initializer:
        if init.name in keep or np.prod(init.dims, dtype=np.int64) > 64:
            continue
        key = (init.data_type, tuple(init.dims), onnx.numpy_helper.to_array(init).tobytes())
        if key in seen:  # an identical constant already exists: point at it, drop this one
            rename[init.name] = seen[key]
            small.append(init)
            continue
        seen[key] = rename[init.name] = init.name = f"c{len(seen)}"
    for init in small:
        g.initializer.remove(init)
    keep |= {i.name for i in g.initializer}
    for k, n in enumerate(g.node):
        n.name = f"{n.op_type}{k}"
        for j, name in enumerate(n.input):
            if name in rename:
                n.input[j] = rename[name]
        for j, name in enumerate(n.output):
            if name and name not in keep:
                rename.setdefault(name, f"t{len(rename)}")
                n.output[j] = rename[name]
