"""Compiler: ONNX and a Python builder API to instruction streams. Not written yet (issue #5)."""
