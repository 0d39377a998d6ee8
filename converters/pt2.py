"""Load a ``torch.export`` archive (``.pt2``) without running code from it.

``torch.export.load`` trusts its file: pickled weights and constants go through
``torch.load(weights_only=False)`` or ``pickle.loads``, legacy entries and example inputs fall back
to it, AOTInductor entries are shared libraries, symbolic shapes are parsed with ``sympy.sympify``
(``eval``), names end up in the Python source FX generates for the module, and ``guards_code`` is
``exec``'d by ``ExportedProgram.module()``. So before torch sees the bytes, this module reads the
archive once into memory and refuses anything but plain data:

* entries: only what ``torch.export.save`` writes for plain tensors (no pickled weights/constants,
  custom or opaque objects, legacy ``.pt`` state dicts, AOTInductor/ExecuTorch payloads), no
  duplicate names, and torch's own zip reader must list the same entries as Python's;
* example inputs must load with ``torch.load(weights_only=True)`` (torch would otherwise retry
  with ``weights_only=False``);
* the program JSON: operators resolve to ATen/prims ops (or the few symbolic/higher-order ones
  export emits), symbolic expressions are made of symbols, numbers and a fixed list of sympy
  functions, and every name is a plain dotted identifier.

Then torch loads the checked bytes (not the file again) and the module is built without the
archive's guard code (``module(check_guards=False)``).
"""

from __future__ import annotations

import io
import json
import keyword
import operator
import re
import tokenize
import zipfile
from pathlib import Path
from typing import Any

import torch

from converters.limits import env_limit
from edge_sdk.errors import WeightsError

RESAVE = "re-save it with torch.export.save from a program of plain tensors"
_PICKLED = "refused: .pt2 archives with pickled entries can run code when loaded"

# entry names relative to the archive root, as torch.export.save writes them for plain tensors
_ALLOWED = [re.compile(p) for p in (
    r"archive_format", r"archive_version", r"byteorder", r"\.data/version", r"\.data/serialization_id",
    r"models/\w+\.json", r"data/weights/\w+_weights_config\.json", r"data/weights/weight_\d+",
    r"data/constants/\w+_constants_config\.json", r"data/constants/tensor_\d+",
    r"data/sample_inputs/\w+\.pt", r"extra/[\w.-]+",
)]
_NAME = re.compile(r"[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)*")  # parameter FQNs, node and argument names
_NAME_KEYS = {"name", "as_name", "parameter_name", "buffer_name", "tensor_constant_name", "custom_obj_name",
              "user_input_name", "fqn"}
_SYMBOL = re.compile(r"[a-z]+\d+")  # s0, s77, u3, zuf0: torch's shape symbols
_SYMPY_NAMES = frozenset({
    "Symbol", "Integer", "Rational", "Float", "Max", "Min", "Abs", "Eq", "Ne", "Lt", "Le", "Gt", "Ge", "And", "Or",
    "Not", "True", "False", "oo", "zoo", "nan", "floor", "ceiling", "Mod", "Piecewise", "ITE",
    "FloorDiv", "ModularIndexing", "Where", "PythonMod", "CleanDiv", "CeilToInt", "FloorToInt", "CeilDiv",
    "IntTrueDiv", "FloatTrueDiv", "IsNonOverlappingAndDenseIndicator", "TruncToFloat", "TruncToInt", "RoundToInt",
    "RoundDecimal", "ToFloat", "Identity",
    # Symbol(...) assumptions
    "integer", "positive", "negative", "nonnegative", "nonpositive", "real", "finite", "infinite", "zero", "nonzero",
    "commutative", "even", "odd", "rational", "extended_real", "extended_positive", "extended_negative",
    "extended_nonnegative", "extended_nonpositive",
})
_SYMPY_OPS = frozenset({"(", ")", ",", "+", "-", "*", "/", "//", "%", "<", ">", "<=", ">=", "==", "!=", "=", "~",
                        "&", "|"})
_HIGHER_ORDER = frozenset({"cond", "while_loop", "map_impl", "scan", "invoke_subgraph", "auto_functionalized",
                           "auto_functionalized_v2", "with_effects", "wrap_with_set_grad_enabled",
                           "wrap_with_autocast"})
_OP_NAMESPACES = ("aten", "prims")
_DENIED_OPS = frozenset({"from_file", "_print"})  # ops that touch files or the console


MAX_PT2_BYTES = 4 << 30  # all entries unpacked, and the file itself: bounded before anything is read


def max_bytes() -> int:
    """``EDGE_SDK_MAX_PT2_BYTES`` if set (the user's own environment), else :data:`MAX_PT2_BYTES`."""
    return env_limit("EDGE_SDK_MAX_PT2_BYTES", MAX_PT2_BYTES)


def _refuse(path: Path, why: str) -> WeightsError:
    return WeightsError(f"{path}: {why}; {RESAVE}")


def _entries(path: Path, data: bytes) -> dict[str, bytes]:
    """Entry name (without the archive's root folder) -> bytes; refuses anything unexpected."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            infos = z.infolist()
            names = [i.filename for i in infos]
            if len(set(names)) != len(names):
                raise _refuse(path, "the archive holds two entries with one name")
            declared = sum(i.file_size for i in infos)  # zipfile never inflates an entry past its declared size
            if declared > max_bytes():
                raise _refuse(path, f"its entries unpack to {declared:,} bytes, over the limit of {max_bytes():,} "
                                    "(a zip bomb? set EDGE_SDK_MAX_PT2_BYTES=N to allow a larger program)")
            roots = {n.split("/", 1)[0] for n in names}
            if len(roots) != 1 or any("/" not in n for n in names):
                raise _refuse(path, "not a torch.export archive (entries must share one root folder)")
            entries = {n.split("/", 1)[1]: z.read(n) for n in names}
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError) as e:
        raise WeightsError(f"{path} is not a readable torch.export program (.pt2 zip archive): {e}") from None
    for name in entries:
        if any(p.fullmatch(name) for p in _ALLOWED):
            continue
        if name.endswith((".pt", ".pkl", ".pickle")) or "/custom_obj_" in name or "/opaque_obj_" in name:
            raise WeightsError(f"{path}: entry {name!r} is pickled: {_PICKLED}; {RESAVE}")
        if name.startswith(("data/aotinductor/", "data/executorch/", "data/mtia", "xl_model_weights/")):
            raise _refuse(path, f"entry {name!r} is compiled code or a format edge-sdk does not load")
        raise _refuse(path, f"unexpected entry {name!r}")
    return entries


def _check_config(path: Path, config_name: str, text: bytes, prefix: str) -> None:
    folder = config_name.rsplit("/", 1)[0]
    try:
        config = json.loads(text)["config"]
        items = list(config.items())
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError):
        raise _refuse(path, f"{config_name} is not a valid payload config") from None
    for fqn, meta in items:
        if not isinstance(meta, dict) or not _NAME.fullmatch(str(fqn)):
            raise _refuse(path, f"{config_name}: bad entry {str(fqn)[:60]!r}")
        file = str(meta.get("path_name", ""))
        if meta.get("use_pickle") or not file.startswith(prefix):
            raise WeightsError(f"{path}: entry '{folder}/{file[:60]}' ({str(fqn)[:60]}) is pickled: {_PICKLED}; "
                               f"{RESAVE}")
        if not re.fullmatch(re.escape(prefix) + r"\d+", file):
            raise _refuse(path, f"{config_name}: bad payload name {file[:60]!r}")


def safe_expression(expr: str) -> bool:
    """True when ``expr`` is a symbolic shape expression sympy can parse without running anything else."""
    if len(expr) > 2000 or "\n" in expr or "\r" in expr or "\\" in expr:
        return False
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(expr).readline))
    except (tokenize.TokenError, SyntaxError):
        return False
    for t in tokens:
        if t.type in (tokenize.NEWLINE, tokenize.NL, tokenize.ENDMARKER):
            continue
        if t.type == tokenize.NUMBER and len(t.string) <= 24:
            continue
        if t.type == tokenize.OP and t.string in _SYMPY_OPS:
            continue
        if t.type == tokenize.STRING and re.fullmatch(r"'\w{1,40}'", t.string):
            continue
        if t.type == tokenize.NAME and (t.string in _SYMPY_NAMES or _SYMBOL.fullmatch(t.string)):
            continue
        return False
    return True


def _allowed_operator(target: str) -> bool:
    """The deserializer resolves ``target`` by getattr from torch/operator/math; only plain ops are allowed."""
    from torch._export.serde.serialize import _SYM_OPS

    parts = target.split(".")
    if not all(p.isidentifier() and not p.startswith("__") for p in parts):
        return False
    if parts[:2] == ["torch", "ops"] and len(parts) == 5 and parts[2] in _OP_NAMESPACES:
        if parts[3] in _DENIED_OPS:
            return False
        try:
            op = getattr(getattr(getattr(torch.ops, parts[2]), parts[3]), parts[4])
        except (AttributeError, RuntimeError):
            return False
        return isinstance(op, torch._ops.OpOverload)
    if parts[:3] == ["torch", "ops", "higher_order"] and len(parts) == 4:
        return parts[3] in _HIGHER_ORDER
    roots: dict[str, Any] = {"_operator": operator, "torch": torch, "math": __import__("math")}
    obj: Any = roots.get(parts[0])
    for p in parts[1:]:
        obj = getattr(obj, p, None)
    return obj is not None and (obj in _SYM_OPS or obj is operator.getitem)


def _check_program(path: Path, entry: str, text: bytes) -> None:
    """Walk the serialized program; refuse operators, expressions and names that could run code."""
    try:
        program = json.loads(text)
    except (ValueError, RecursionError):
        raise _refuse(path, f"{entry} is not valid JSON") from None
    stack: list[Any] = [program]
    seen = 0
    while stack:
        obj = stack.pop()
        seen += 1
        if seen > 5_000_000:
            raise _refuse(path, f"{entry} is too large")
        if isinstance(obj, list):
            stack.extend(obj)
            continue
        if not isinstance(obj, dict):
            continue
        is_node = {"target", "inputs", "outputs"} <= obj.keys()
        for key, value in obj.items():
            if key == "expr_str" and not (isinstance(value, str) and safe_expression(value)):
                raise _refuse(path, f"{entry}: symbolic expression {str(value)[:60]!r} is not a plain shape expression")
            elif key == "as_operator" or (key == "target" and is_node):
                if not (isinstance(value, str) and _allowed_operator(value)):
                    raise _refuse(path, f"{entry}: operator {str(value)[:60]!r} is not an ATen/prims operator")
            elif key in _NAME_KEYS or key == "target":
                if not (isinstance(value, str) and (value == "" or _NAME.fullmatch(value))):
                    raise _refuse(path, f"{entry}: name {str(value)[:60]!r} is not a plain identifier")
            elif key == "forward_arg_names" and value is not None:
                if not (isinstance(value, list) and all(
                        isinstance(v, str) and v.isidentifier() and not keyword.iskeyword(v) for v in value)):
                    raise _refuse(path, f"{entry}: argument names {str(value)[:60]!r} are not identifiers")
            elif key in ("class_fqn", "as_custom_obj"):
                raise _refuse(path, f"{entry}: custom objects are pickled: {_PICKLED}")
            stack.append(value)


def _check_sample_inputs(path: Path, name: str, data: bytes) -> None:
    if not data:
        return
    try:
        torch.load(io.BytesIO(data), weights_only=True)
    except Exception:  # torch would retry with weights_only=False: refuse instead
        raise WeightsError(f"{path}: entry {name!r} holds pickled objects beyond plain tensors (it does not load "
                           f"with weights_only=True): {_PICKLED}; {RESAVE}") from None


def load_exported_program(path: Path) -> Any:
    """``torch.export.load`` for a file from anyone: checks first, then loads the checked bytes."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > max_bytes():
            raise _refuse(path, f"it is {size:,} bytes, over the limit of {max_bytes():,} "
                                "(set EDGE_SDK_MAX_PT2_BYTES=N)")
        data = path.read_bytes()
    except OSError as e:
        raise WeightsError(f"cannot read {path}: {e.strerror or e}") from None
    entries = _entries(path, data)
    try:
        from torch.export.pt2_archive._package import PT2ArchiveReader

        torch_names = set(PT2ArchiveReader(io.BytesIO(data)).archive_file.get_all_records())
    except Exception as e:
        raise WeightsError(f"{path} is not a readable torch.export program: {type(e).__name__}: "
                           f"{(str(e).strip().splitlines() or [''])[0][:200]}") from None
    if torch_names != set(entries):
        raise _refuse(path, "torch and Python read different entries from the archive")
    if entries.get("archive_version") != b"0":
        raise _refuse(path, "unsupported archive version (expected 0)")
    models = [n[len("models/"):-len(".json")] for n in entries if n.startswith("models/")]
    if models != ["model"]:
        raise _refuse(path, f"expected one program named 'model', found {models or 'none'}")
    for model in models:
        for config, prefix in ((f"data/weights/{model}_weights_config.json", "weight_"),
                               (f"data/constants/{model}_constants_config.json", "tensor_")):
            if config not in entries:
                raise _refuse(path, f"missing {config}")
            _check_config(path, config, entries[config], prefix)
        _check_program(path, f"models/{model}.json", entries[f"models/{model}.json"])
        sample = f"data/sample_inputs/{model}.pt"
        _check_sample_inputs(path, sample, entries.get(sample, b""))
    try:
        return torch.export.load(io.BytesIO(data))
    except Exception as e:
        first = (str(e).strip().splitlines() or [""])[0][:200]
        raise WeightsError(f"{path} is not a readable torch.export program: {type(e).__name__}: {first}") from None
