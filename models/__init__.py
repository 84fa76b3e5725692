"""Pretrained weights and their model cards (top-level ``models/`` in a checkout)."""
