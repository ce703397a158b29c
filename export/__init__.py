"""Exporters: zoo models to ONNX, TFLite and CoreML artifacts, verified against PyTorch."""
