"""Safetensors weights for zoo models: load without pickle, save atomically, name bad tensors."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from edge_sdk._io import atomic_path
from edge_sdk.errors import WeightsError

if TYPE_CHECKING:
    import torch

_PICKLE_MAGIC = (b"\x80\x02", b"\x80\x03", b"\x80\x04", b"\x80\x05", b"PK\x03\x04")


REPRODUCIBILITY_PACKAGES = ("torch", "numpy", "scipy", "colour-science", "opencv-python-headless", "scikit-learn",
                            "safetensors")


def library_versions() -> dict[str, str | None]:
    """Versions of what training depends on: the same seed gives the same weights only with these."""
    from importlib import metadata

    out: dict[str, str | None] = {}
    for name in REPRODUCIBILITY_PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def save_weights(model: torch.nn.Module, path: str | os.PathLike[str], metadata: dict[str, str] | None = None) -> Path:
    """Write ``model.state_dict()`` as safetensors (contiguous CPU tensors), atomically."""
    from safetensors.torch import save_file

    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    with atomic_path(path) as tmp:
        save_file(state, str(tmp), metadata=metadata or {})
    return Path(path)


def read_state_dict(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """Read a state dict from safetensors, or from a torch file with ``weights_only=True``.

    Pickled code is never executed: a torch file that needs more than tensors is refused.
    """
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"weights file not found: {path}")
    with path.open("rb") as f:
        head = f.read(8)
    if path.suffix == ".safetensors" or not head.startswith(_PICKLE_MAGIC):
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            return load_file(str(path))
        except (SafetensorError, OSError, ValueError) as e:
            raise WeightsError(f"{path} is not a readable safetensors file: {e}") from None
    import pickle

    import torch

    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError) as e:
        raise WeightsError(
            f"{path} was refused: it is not a plain tensor checkpoint and loading it would execute "
            f"pickled code ({str(e).splitlines()[0]}). Save it with safetensors or torch.save(state_dict)."
        ) from None
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise WeightsError(f"{path} does not hold a state dict (name -> tensor)")
    return obj


def load_into(model: torch.nn.Module, state: dict[str, torch.Tensor], source: str = "weights") -> None:
    """``load_state_dict(strict=True)`` with an error that names every mismatching tensor."""
    own = model.state_dict()
    problems = []
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    if missing:
        problems.append(f"missing tensors: {', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}")
    if unexpected:
        problems.append(f"unexpected tensors: {', '.join(unexpected[:5])}{' ...' if len(unexpected) > 5 else ''}")
    for k in sorted(set(own) & set(state)):
        if tuple(own[k].shape) != tuple(state[k].shape):
            problems.append(f"tensor {k!r}: expected shape {tuple(own[k].shape)}, got {tuple(state[k].shape)}")
    if problems:
        raise WeightsError(f"{source} do not fit {type(model).__name__}: " + "; ".join(problems))
    model.load_state_dict(state, strict=True)
