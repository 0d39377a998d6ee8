"""Optimisation profiles: min / opt / max shapes for every symbolic input dim, like trtexec's
``--minShapes/--optShapes/--maxShapes``, from the caller's shapes, the batch arguments and the sizes a
bundle's manifest records as validated."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from runtimes.errors import EdgeSDKError
from runtimes.manifest import Manifest

Shape = tuple[int, ...]
Profile = tuple[Shape, Shape, Shape]  # min, opt, max
MAX_DIM = 1 << 20  # a profile dim beyond this is a typo, not a model
_SHAPE_ITEM = re.compile(r"(?P<name>.+):(?P<dims>\d+(?:x\d+)*)")


def parse_shapes(text: str) -> dict[str, Shape]:
    """``"image:1x3x224x224,mask:1x1x224x224"`` (trtexec's ``--shapes`` syntax) -> {name: shape}."""
    out: dict[str, Shape] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        m = _SHAPE_ITEM.fullmatch(item)
        if not m:
            raise EdgeSDKError(f"bad shape {item!r}: use NAME:AxBxC, e.g. image:1x3x224x224 (comma-separated)")
        dims = tuple(int(d) for d in m.group("dims").split("x"))
        if not all(1 <= d <= MAX_DIM for d in dims):
            raise EdgeSDKError(f"bad shape {item!r}: every dim must be 1..{MAX_DIM}")
        out[m.group("name").strip("'\"")] = dims
    if not out:
        raise EdgeSDKError(f"no shapes in {text!r}: use NAME:AxBxC, e.g. image:1x3x224x224")
    return out


def manifest_sizes(manifest: Manifest) -> dict[str, list[Shape]]:
    """The full input shapes a bundle was validated at (single-input bundles): the example size
    (``extra.input_shape``) first, then ``extra.parity_at_sizes``; {} when the manifest records none."""
    if len(manifest.inputs) != 1:
        return {}
    shapes: list[Shape] = []
    example = manifest.extra.get("input_shape")
    candidates: list[Any] = [[1, *example]] if isinstance(example, list) else []
    sizes = manifest.extra.get("parity_at_sizes")
    if isinstance(sizes, list):
        candidates += [s.get("input_shape") for s in sizes if isinstance(s, dict)]
    rank = len(manifest.inputs[0].shape)
    for c in candidates:
        if (isinstance(c, list) and len(c) == rank
                and all(isinstance(d, int) and not isinstance(d, bool) and 1 <= d <= MAX_DIM for d in c)):
            if tuple(c) not in shapes:
                shapes.append(tuple(c))
    return {manifest.inputs[0].name: shapes} if shapes else {}


def profile_shapes(
    inputs: Sequence[tuple[str, Sequence[int | None]]],
    *,
    max_batch: int = 32,
    opt_batch: int = 1,
    min_shapes: Mapping[str, Shape] | None = None,
    opt_shapes: Mapping[str, Shape] | None = None,
    max_shapes: Mapping[str, Shape] | None = None,
    sizes: Mapping[str, Sequence[Shape]] | None = None,
) -> dict[str, Profile]:
    """min / opt / max shapes for every input with a symbolic dim (None); static inputs need none.

    Per dim, first match wins: the shape given for that input (``opt_shapes`` alone also serves as min
    and max, like trtexec's ``--shapes``; ``min_shapes`` / ``max_shapes`` alone fall back to it); for
    dim 0 (the batch) 1 / ``opt_batch`` / ``max_batch``; for the others the smallest / first / largest
    of ``sizes`` (shapes the bundle was validated at). Raises :class:`EdgeSDKError` for a shape naming
    no input, of the wrong rank, contradicting a static dim, with min > opt > max, or for a symbolic dim
    nothing gives a size for (naming the flag to pass).
    """
    given = {"min": dict(min_shapes or {}), "opt": dict(opt_shapes or {}), "max": dict(max_shapes or {})}
    names = [name for name, _ in inputs]
    for kind, shapes in given.items():
        for name in shapes:
            if name not in names:
                raise EdgeSDKError(f"{kind} shape for {name!r}: the model has no such input (inputs: "
                                   f"{', '.join(names)})")
    profiles: dict[str, Profile] = {}
    for name, dims in inputs:
        for kind, shapes in given.items():
            shape = shapes.get(name)
            if shape is None:
                continue
            if len(shape) != len(dims) or any(d is not None and d != s for d, s in zip(dims, shape)):
                want = "x".join("?" if d is None else str(d) for d in dims)
                raise EdgeSDKError(f"{kind} shape {name}:{'x'.join(map(str, shape))} does not fit the input's "
                                   f"shape {want} (? = symbolic)")
        if all(d is not None for d in dims):
            continue
        known = list((sizes or {}).get(name, ()))
        ranges: list[tuple[int, int, int]] = []
        for k, d in enumerate(dims):
            if d is not None:
                ranges.append((d, d, d))
                continue
            opt = given["opt"].get(name)
            lo, hi = given["min"].get(name, opt), given["max"].get(name, opt)
            if lo is not None and hi is not None:
                ranges.append((lo[k], opt[k] if opt is not None else lo[k], hi[k]))
            elif k == 0:
                ranges.append((1, opt_batch, max_batch))
            elif known:
                values = [s[k] for s in known]
                ranges.append((min(values), values[0], max(values)))
            else:
                example = "x".join(str(v) if v is not None else "1" if i == 0 else "224" for i, v in enumerate(dims))
                raise EdgeSDKError(
                    f"input {name!r} dim {k} is symbolic and the manifest records no size for it: give its "
                    f"range, e.g. --min-shapes {name}:{example} --opt-shapes {name}:{example} "
                    f"--max-shapes {name}:{example} (or --shapes {name}:{example} for one size)"
                )
        lo_s, opt_s, hi_s = (tuple(r[i] for r in ranges) for i in range(3))
        if not all(a <= b <= c for a, b, c in ranges):
            raise EdgeSDKError(f"input {name!r}: need min <= opt <= max in every dim, got min {list(lo_s)}, "
                               f"opt {list(opt_s)}, max {list(hi_s)}")
        profiles[name] = (lo_s, opt_s, hi_s)
    return profiles


def profiles_json(profiles: Mapping[str, Profile]) -> dict[str, dict[str, list[int]]]:
    """The manifest form of :func:`profile_shapes`' result (and what the engine key compares)."""
    return {name: {"min": list(p[0]), "opt": list(p[1]), "max": list(p[2])} for name, p in sorted(profiles.items())}
