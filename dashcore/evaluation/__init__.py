"""Scoring a saved model: pure metrics, apart from running and caching models."""
