"""Runs as jobs: the queue, the worker process, and the backends that start workers."""
