"""Host-side conversion: export PyTorch models to ONNX, quantize, validate, build engines."""
