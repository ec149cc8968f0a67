"""The general engine: ranks the catalog for a moment, safely, without any fine-tuned model."""
