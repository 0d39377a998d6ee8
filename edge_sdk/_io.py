"""Atomic file writes (defined in the runtime, the lowest layer: :mod:`runtimes.atomic`)."""

from runtimes.atomic import atomic_path, atomic_write_bytes, atomic_write_text

__all__ = ["atomic_path", "atomic_write_bytes", "atomic_write_text"]
