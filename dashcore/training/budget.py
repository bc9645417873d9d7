"""Budgets a run must fit before it is queued: estimated training work and activation
memory at the chosen batch size. No Keras: both come from the spec's shapes
(:mod:`dashcore.models.cost`), so a refusal comes before anything is built or queued.
"""

from __future__ import annotations

from dashcore.errors import UserError
from dashcore.models.cost import STEP_OVERHEAD_MACS, TRAINING_FACTOR, ModelCost
from dashcore.models.specs import ModelSpec
from dashcore.settings import Limits, limit_setting
from dashcore.system import human_bytes

TERA = 1e12


def _macs(value: float) -> str:
    """Multiply-accumulates as people read them: ``2.44 M``, ``3.1 G``."""
    for unit, size in (("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if value >= size:
            return f"{value / size:.3g} {unit}"
    return f"{value:.0f}"


def check_training_work(cost: ModelCost, images: int, steps: int, epochs: int,
                        batch_size: int, limits: Limits) -> float:
    """Estimated training work in tera-MACs; :class:`UserError` when over the server's cap.

    The sentence says the estimate and what it is made of, so the person sees which knob
    (epochs, batch size, images, model) moves it most.
    """
    work = cost.training_macs(images, steps, epochs) / TERA
    if work > limits.max_training_tmac:
        raise UserError(
            f"This run would cost about {work:,.0f} TMAC of training work ({epochs:,} epochs × "
            f"{steps:,} steps of {batch_size:,} {'image' if batch_size == 1 else 'images'}, "
            f"at {_macs(cost.macs_per_image)} "
            f"multiply-accumulates per image ×{TRAINING_FACTOR} to train, plus about "
            f"{_macs(STEP_OVERHEAD_MACS)} per step); this server allows "
            f"{limits.max_training_tmac:,.0f} TMAC per run. Use fewer epochs, a larger batch "
            f"size, fewer training images or a smaller model. "
            f"{limit_setting('max_training_tmac')}")
    return work


def check_activation_memory(cost: ModelCost, spec: ModelSpec, batch_size: int,
                            limits: Limits) -> int:
    """Activation bytes at ``batch_size``; :class:`UserError` suggesting a smaller batch."""
    needed = cost.training_bytes(batch_size)
    allowed = limits.max_activation_mb * 1024 * 1024
    if needed > allowed:
        per_image = cost.training_bytes(1)
        fits = allowed // per_image if per_image else 0
        layer = spec.layers[cost.largest_layer]
        largest = cost.largest_values * batch_size * 4
        fix = (f"Use a batch size of at most {fits:,}, or fewer filters or units."
               if fits >= 1 else
               "Even one image is too much: use fewer filters or units, or pool earlier.")
        raise UserError(
            f"At batch size {batch_size:,} this model's layer outputs would take about "
            f"{human_bytes(needed)} of memory while training (layer {cost.largest_layer + 1} "
            f"({layer['type']}) alone holds {human_bytes(largest)}); this server allows "
            f"{human_bytes(allowed)}. {fix} {limit_setting('max_activation_mb')}")
    return needed
