"""Device-side runtime: torch-free backends (ONNX Runtime, TensorRT, numpy) behind one Session API.

    import runtimes
    sess = runtimes.load("bundles/compact-cnn")      # or edge_sdk.load(...)
    logits = sess(x)                                  # single input; sess.run({"input": x}) in general
    report = runtimes.check("bundles/compact-cnn")   # golden samples on this device vs the export's budget

Backend libraries are imported when a backend loads, never at import time.
"""

from runtimes.loader import available_backends, load
from runtimes.manifest import Manifest, read_manifest
from runtimes.selfcheck import CheckReport, check
from runtimes.session import Session, TensorInfo

__all__ = ["CheckReport", "Manifest", "Session", "TensorInfo", "available_backends", "check", "load", "read_manifest"]
