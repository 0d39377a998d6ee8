"""Device-side runtime: torch-free backends (ONNX Runtime, TensorRT, numpy)."""
