"""GGUF files read safely: the bounds-checked header reader, what a servable base model must
hold, and LoRA adapters written as GGUF."""
