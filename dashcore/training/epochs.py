"""Seeded, resumable epochs of batches on any Keras backend (no ``tf.data``).

Epoch *e*'s order is drawn from ``(seed, e)`` alone (:func:`epoch_order`), so epoch 2 sees
the same batches whether it follows epoch 1 in the same process or in a resumed one; a
:class:`SeededEpochs` hands those batches to ``fit`` as a ``keras.utils.PyDataset``, which
every backend reads (JAX and PyTorch directly, TensorFlow through its own generator
dataset). Batches are NumPy gathers of the training arrays, as Keras's own ``fit`` on
arrays makes them.
"""

from __future__ import annotations

import math

import keras
import numpy as np


def epoch_order(n: int, seed: int, epoch: int) -> np.ndarray:
    """The shuffled order of ``n`` training images in (0-based) ``epoch``, from seed and
    epoch alone: the same in any process and on any backend."""
    rng = np.random.default_rng([int(seed) % 2**32, int(epoch)])
    return rng.permutation(n)


class SeededEpochs(keras.utils.PyDataset):
    """Epochs ``initial_epoch, initial_epoch + 1, …`` of ``(images, labels)`` batches, as
    one endless sequence: batch ``i`` is batch ``i % steps`` of epoch
    ``initial_epoch + i // steps``.

    Fit it with ``steps_per_epoch=self.steps`` and ``initial_epoch``. Each batch follows
    from its index alone (no state moves between epochs), so the extra batch Keras reads
    to build a model, or a dataset read ahead, never shifts an epoch's order.

    Args:
        x: training images, float32.
        y: their one-hot labels.
        batch_size: images per batch (each epoch's last batch may be smaller).
        seed: the run's seed.
        initial_epoch: the first epoch (0-based) to serve: a resumed run's epochs done.

    Example:
        >>> batches = SeededEpochs(x, y, batch_size=128, seed=42)
        >>> model.fit(batches, epochs=5, steps_per_epoch=batches.steps)  # doctest: +SKIP
    """

    def __init__(self, x: np.ndarray, y: np.ndarray, batch_size: int, seed: int,
                 initial_epoch: int = 0) -> None:
        super().__init__(workers=1, use_multiprocessing=False)
        if len(x) != len(y):
            raise ValueError(f"{len(x)} images but {len(y)} labels.")
        self.x, self.y = x, y
        self.batch_size = int(batch_size)
        self.seed = int(seed)
        self.initial_epoch = int(initial_epoch)
        self.steps = math.ceil(len(x) / self.batch_size)  # batches per epoch
        self._cached: tuple[int, np.ndarray] | None = None

    @property
    def num_batches(self) -> None:
        """Endless: ``fit`` counts ``steps_per_epoch`` batches per epoch."""
        return None

    def order(self, epoch: int) -> np.ndarray:
        """Epoch ``epoch``'s order (the latest one is kept)."""
        if self._cached is None or self._cached[0] != epoch:
            self._cached = (epoch, epoch_order(len(self.x), self.seed, epoch))
        return self._cached[1]

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        epoch, batch = divmod(int(index), self.steps)
        rows = self.order(self.initial_epoch + epoch)[
            batch * self.batch_size:(batch + 1) * self.batch_size]
        return self.x[rows], self.y[rows]
