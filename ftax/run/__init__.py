"""One shape into records: models, runtimes, decoding, and the runner that times them.

The model registry (random weights from transformers configs, synthetic layer stacks), the runtimes
(eager, TorchScript, torch.compile, CUDA graphs, ONNX Runtime, AOTInductor), a decoder's prefill and
decode steps, and the runner, which times one shape's runtimes together.

May import: measure, store.
"""
