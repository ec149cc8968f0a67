"""On-device LoRA training: the trainer (a generator of typed events), its worker
subprocess, the memory watchdog and the chunked LM-head loss.

Nothing here imports torch at package import time; ``engine.training.events`` and
``engine.training.memory`` are light, the rest imports torch inside functions or is only
imported by the training worker.
"""
