"""Local LLM inference: the llama.cpp service, LoRA adapters as GGUF, and the prompt format.

Nothing heavy is imported here; ``llama_cpp`` is imported only inside the functions of
:mod:`engine.inference.llama_service` that need it.
"""
