"""The Keras backend this process runs on (TensorFlow, JAX or PyTorch), asked in one place.

Keras picks its backend from ``KERAS_BACKEND`` or ``~/.keras/keras.json``; everything here
reads that choice instead of importing TensorFlow, so training, prediction and the System
panel work on whichever backend is installed. Imports Keras and the backend's own package
only inside the functions that need them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from importlib import metadata
from typing import Any

# The pip packages each backend brings, for the versions a model card records.
BACKEND_PACKAGES = {"tensorflow": ("tensorflow",), "jax": ("jax", "jaxlib"),
                    "torch": ("torch",), "numpy": ("numpy",)}
BACKEND_NAMES = {"tensorflow": "TensorFlow", "jax": "JAX", "torch": "PyTorch",
                 "numpy": "NumPy"}


@dataclass(frozen=True)
class Gpu:
    """One GPU the backend can use."""

    name: str  # e.g. "GPU 0 (NVIDIA H200)"
    compute_capability: tuple[int, int] | None = None  # CUDA's (major, minor) when known

    @property
    def has_bfloat16(self) -> bool:
        """bfloat16 tensor cores: CUDA compute capability 8.0 (Ampere) and later."""
        return self.compute_capability is not None and self.compute_capability >= (8, 0)

    @property
    def has_float16_cores(self) -> bool:
        """float16 tensor cores: compute capability 7.0 (Volta) and later."""
        return self.compute_capability is not None and self.compute_capability >= (7, 0)


def backend_name() -> str:
    """``"tensorflow"``, ``"jax"`` or ``"torch"``: the backend Keras loaded."""
    import keras

    return keras.backend.backend()


def backend_title() -> str:
    """The backend's name as people write it (``"JAX"``, ``"PyTorch"``, ``"TensorFlow"``),
    for sentences such as "the worker loads Keras and JAX first"."""
    name = backend_name()
    return BACKEND_NAMES.get(name, name)


def package_version(package: str) -> str:
    """An installed package's version, or ``"not installed"``."""
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def tensorflow_installed() -> bool:
    """Whether TensorFlow can be imported here (SavedModel and TFLite export need it)."""
    return package_version("tensorflow") != "not installed"


def library_versions() -> dict[str, str]:
    """Versions written on every model card, so a result can be reproduced: Keras, the
    backend and its packages, NumPy and Python."""
    import platform

    import keras

    backend = backend_name()
    versions = {"keras": keras.__version__, "backend": backend}
    versions.update({name: package_version(name) for name in BACKEND_PACKAGES.get(backend, ())})
    versions.update({"numpy": package_version("numpy"), "python": platform.python_version()})
    return versions


def _capability(text: Any) -> tuple[int, int] | None:
    """``"9.0"`` or ``(9, 0)`` → ``(9, 0)``; anything else → None."""
    try:
        parts = [int(p) for p in (str(text).split(".") if isinstance(text, str) else text)]
        return (parts[0], parts[1] if len(parts) > 1 else 0)
    except (TypeError, ValueError, IndexError):
        return None


def visible_gpus() -> list[Gpu]:
    """The GPUs the Keras backend can use here (an empty list on a CPU-only machine)."""
    backend = backend_name()
    if backend == "jax":
        import jax

        try:
            devices = jax.devices("gpu")
        except RuntimeError:  # no GPU platform in this jaxlib, or no GPU on the machine
            return []
        return [Gpu(f"GPU {d.id} ({d.device_kind})",
                    _capability(getattr(d, "compute_capability", None))) for d in devices]
    if backend == "torch":
        import torch

        if not torch.cuda.is_available():
            return []
        return [Gpu(f"GPU {i} ({torch.cuda.get_device_name(i)})",
                    tuple(torch.cuda.get_device_capability(i)))
                for i in range(torch.cuda.device_count())]
    if backend == "tensorflow":
        import tensorflow as tf

        gpus = []
        for i, device in enumerate(tf.config.list_physical_devices("GPU")):
            details = tf.config.experimental.get_device_details(device)
            gpus.append(Gpu(f"GPU {i} ({details.get('device_name', 'GPU')})",
                            _capability(details.get("compute_capability"))))
        return gpus
    return []


def device_names() -> list[str]:
    """Every device the backend sees, CPU first, e.g. ``["CPU", "GPU 0 (NVIDIA H200)"]``."""
    return ["CPU", *(gpu.name for gpu in visible_gpus())]


def limit_threads(threads: int) -> None:
    """Cap the backend's CPU thread pools at ``threads`` (before it computes anything).

    TensorFlow and PyTorch take the number directly. JAX's CPU client sizes its pool from
    the machine's cores; one thread is asked for through ``XLA_FLAGS`` (read when JAX
    starts its CPU client), more is left to JAX.
    """
    backend = backend_name()
    if backend == "tensorflow":
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(min(2, threads))
    elif backend == "torch":
        import torch

        torch.set_num_threads(threads)
        try:
            torch.set_num_interop_threads(min(2, threads))
        except RuntimeError:  # already set, or parallel work has started
            pass
    elif backend == "jax" and threads == 1:
        flags = os.environ.get("XLA_FLAGS", "")
        if "intra_op_parallelism_threads" not in flags:
            os.environ["XLA_FLAGS"] = (f"{flags} --xla_cpu_multi_thread_eigen=false "
                                       "intra_op_parallelism_threads=1").strip()
