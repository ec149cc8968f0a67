"""GGUF files read safely: the bounds-checked header reader, what a servable base model must
hold, and LoRA adapters written as GGUF."""

ADAPTER_GGUF = "adapter.gguf"
"""The file name of a version's LoRA adapter in GGUF (what llama.cpp loads). Here, not in
:mod:`.lora`, so that naming the file does not load numpy."""
