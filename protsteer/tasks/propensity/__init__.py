"""Amino-acid propensity task: data (splits, cache, samples), training task, evaluation."""
