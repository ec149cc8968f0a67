"""Serving recommendations: the general engine's answer, or the family model's when one
is active and fit to serve."""
