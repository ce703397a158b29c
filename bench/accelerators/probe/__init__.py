"""The model ``bench devices --probe`` tries each accelerator with: two 3x3 convolutions, ReLU,
global average pooling and a linear layer on a 1x3x32x32 input (``probe_net.py``), exported by
``bench export /path/probe_net.py:probe --input-shape 1,3,32,32 --format onnx,tflite`` to
``probe.onnx`` (5 KB) and ``probe.tflite`` (8 KB): operators every delegate and execution provider
supports, so a refusal is the accelerator's, not the model's."""
