"""Personalization jobs: the training data, the pipeline from slates to an active version, the
evaluation gate, and when a family is due."""
