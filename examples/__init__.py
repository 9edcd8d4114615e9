"""Runnable examples of partner apps built on StoreMesh's published contracts."""
