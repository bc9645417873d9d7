"""Derived datasets built from MNIST: pen strokes and canvas-like renderings of its digits."""
