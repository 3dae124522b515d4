"""Leaf helpers every layer may use; nothing here imports any other part of contrastlearn."""
