"""Learning-rate schedules, presets' recipes and the GPU decisions (issue 7).

No timing here: the speed claims live in benchmarks/ and BENCHMARKS.md.
"""

from __future__ import annotations

import json

import keras
import pytest

from dashcore.backend import Gpu
from dashcore.models import builder, presets, specs, validation
from dashcore.models.presets import RECIPES
from dashcore.settings import get_settings
from dashcore.training.config import (
    SCHEDULES,
    TrainConfig,
    count_steps,
    recipe_for,
    recommended_config,
)
from dashcore.training.devices import MIN_CALLS_PER_EPOCH, device_plan, precision_scope
from dashcore.training.pipeline import compile_model, learning_rate_schedule, train_in_process

TINY = specs.ModelSpec(name="tiny", layers=[
    {"type": "Conv2D", "filters": 4, "kernel_size": 3, "activation": "relu"},
    {"type": "BatchNormalization"}, {"type": "MaxPooling2D", "pool_size": 2},
    {"type": "Flatten"}, {"type": "Dense", "units": 10, "activation": "softmax"}]).to_dict()


# ---------------------------------------------------------------- schedules


def test_the_constant_schedule_is_just_the_learning_rate():
    assert learning_rate_schedule(TrainConfig(learning_rate=0.002), 100) == 0.002


def test_one_cycle_warms_up_to_the_peak_then_ends_near_zero():
    config = TrainConfig(schedule="one_cycle", learning_rate=0.01, epochs=2)
    schedule = learning_rate_schedule(config, steps_per_epoch=50)  # 100 steps in all
    rates = [float(schedule(step)) for step in range(100)]
    peak = max(range(100), key=rates.__getitem__)
    assert 25 <= peak <= 35  # the peak comes after the first ~30% of the steps
    assert rates[peak] == pytest.approx(0.01, rel=1e-3)
    assert rates[0] == pytest.approx(0.01 / 25, rel=1e-3)
    assert rates[-1] < 0.01 / 100
    assert all(a <= b for a, b in zip(rates[:peak], rates[1:peak + 1], strict=True))
    assert all(a >= b for a, b in zip(rates[peak:-1], rates[peak + 1:], strict=True))


def test_one_cycle_is_keras_own_schedule_so_a_saved_optimizer_reloads_without_custom_code():
    schedule = learning_rate_schedule(TrainConfig(schedule="one_cycle"), 10)
    config = keras.optimizers.schedules.serialize(schedule)
    assert config["module"].startswith("keras.")
    assert float(keras.optimizers.schedules.deserialize(config)(3)) == pytest.approx(
        float(schedule(3)))


def test_steps_count_the_short_last_batch():
    assert count_steps(1000, 128) == 8 and count_steps(1024, 128) == 8


@pytest.mark.parametrize(("change", "sentence"), [
    ({"schedule": "cosine"}, "Learning-rate schedule 'cosine' is not offered: choose "
                             "constant or one_cycle."),
    ({"mixed_precision": "yes"}, "Mixed precision must be on or off (True or False), not "
                                 "'yes'."),
])
def test_an_unknown_schedule_or_precision_is_refused_with_a_sentence(change, sentence):
    assert sentence in TrainConfig(**change).validate()


def test_a_config_saved_before_schedules_existed_still_loads_as_constant():
    old = TrainConfig().to_dict()
    del old["schedule"], old["mixed_precision"]
    config = TrainConfig.from_dict(old)
    assert (config.schedule, config.mixed_precision) == ("constant", False)
    assert config.validate() == []


def test_the_schedule_is_saved_with_the_rest_of_the_recipe():
    data = json.loads(json.dumps(TrainConfig(schedule="one_cycle").to_dict()))
    assert TrainConfig.from_dict(data).schedule == "one_cycle"


def test_every_schedule_has_a_one_line_explanation():
    assert set(SCHEDULES) == {"constant", "one_cycle"}
    assert all("\n" not in text and ": " in text for text in SCHEDULES.values())


# ---------------------------------------------------------------- presets and recipes


def test_the_tutorial_presets_are_unchanged():
    assert [sum(validation.estimate_params(presets.get_preset(name)))
            for name in ("Dense 64", "MLP 2×512", "CNN 32-64")] == [50_890, 669_706, 34_826]


@pytest.mark.parametrize(("preset", "params"), [("Fast CNN", 225_930), ("Best CNN", 198_762)])
def test_the_speed_and_accuracy_presets_have_these_sizes(preset, params, settings):
    assert sum(validation.estimate_params(presets.get_preset(preset))) == params
    assert builder.build_model(presets.get_preset(preset),
                               max_params=settings.limits.max_params).count_params() == params


@pytest.mark.parametrize("preset", list(RECIPES))
def test_each_recipe_is_valid_for_its_preset_and_names_only_known_fields(preset):
    config = recommended_config(preset)
    assert config.validate(get_settings().limits) == []
    assert config.spec.name == preset
    assert set(RECIPES[preset]) <= set(TrainConfig().to_dict())


def test_the_fast_and_best_recipes_use_one_cycle_and_choose_on_validation():
    for preset in ("Fast CNN", "Best CNN"):
        config = recommended_config(preset)
        assert config.schedule == "one_cycle"
        assert config.keep_best and config.validation_split > 0
    assert recommended_config("Best CNN").augment


def test_a_preset_without_a_recipe_gets_the_tutorial_defaults():
    defaults = TrainConfig()
    assert recipe_for("Dense 64")["learning_rate"] == defaults.learning_rate
    assert recommended_config("CNN 32-64") == defaults
    assert recommended_config("Fast CNN", epochs=3).epochs == 3


def test_batch_normalization_averages_its_statistics_over_about_ten_batches(settings):
    model = builder.build_model(presets.get_preset("Fast CNN"),
                                max_params=settings.limits.max_params)
    norms = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    assert norms and all(layer.momentum == specs.BN_MOMENTUM == 0.9 for layer in norms)


# ---------------------------------------------------------------- devices


H200 = Gpu("gpu:0 (NVIDIA H200)", (9, 0))
V100 = Gpu("gpu:0 (Tesla V100)", (7, 0))
P100 = Gpu("gpu:0 (Tesla P100)", (6, 0))


def test_on_a_cpu_nothing_is_distributed_and_only_jax_compiles_the_step():
    plan = device_plan(TrainConfig(), [], "tensorflow")
    assert (plan.gpus, plan.jit_compile, plan.mixed_precision, plan.distribute) == (
        0, False, False, False)
    assert plan.notes == () and plan.describe() == "TensorFlow · CPU"
    jax = device_plan(TrainConfig(), [], "jax")
    assert jax.jit_compile and jax.describe() == "JAX · CPU · jit"
    assert not device_plan(TrainConfig(), [], "torch").jit_compile


def test_mixed_precision_without_a_gpu_is_ignored_with_a_note():
    plan = device_plan(TrainConfig(mixed_precision=True), [], "jax")
    assert not plan.mixed_precision and plan.policy == "float32"
    assert "no GPU is visible" in plan.notes[0] and "float32" in plan.notes[0]


def test_mixed_precision_is_bfloat16_on_gpus_that_have_it_and_float16_on_older_tensor_cores():
    assert device_plan(TrainConfig(mixed_precision=True), [H200], "jax").policy == (
        "mixed_bfloat16")
    assert device_plan(TrainConfig(mixed_precision=True), [V100], "jax").policy == (
        "mixed_float16")
    no_cores = device_plan(TrainConfig(mixed_precision=True), [P100], "jax")
    assert no_cores.policy == "float32" and "no tensor cores" in no_cores.notes[0]
    assert device_plan(TrainConfig(), [H200], "jax").policy == "float32"  # not asked for


def test_one_gpu_gets_xla_and_mixed_precision_when_asked():
    plan = device_plan(TrainConfig(mixed_precision=True), [H200], "tensorflow")
    assert (plan.jit_compile, plan.mixed_precision, plan.distribute) == (True, True, False)
    assert plan.describe() == "TensorFlow · 1 GPU · XLA · mixed precision (bfloat16)"


def test_several_gpus_are_data_parallel_on_jax_and_mirrored_on_tensorflow():
    plan = device_plan(TrainConfig(), [H200, H200], "jax")
    assert (plan.gpus, plan.distribute, plan.jit_compile) == (2, True, True)
    assert plan.describe() == "JAX · 2 GPUs · jit · data parallel"
    tf_plan = device_plan(TrainConfig(), [H200, H200], "tensorflow")
    assert (tf_plan.distribute, tf_plan.jit_compile) == (True, False)
    assert tf_plan.describe() == "TensorFlow · 2 GPUs · MirroredStrategy"
    torch_plan = device_plan(TrainConfig(), [H200, H200], "torch")
    assert not torch_plan.distribute and "trains on one" in torch_plan.notes[0]


def test_a_gpu_runs_several_steps_per_call_and_keeps_enough_live_points():
    assert device_plan(TrainConfig(), [], "jax", steps_per_epoch=422).steps_per_execution == 1
    gpu = device_plan(TrainConfig(), [H200], "jax", steps_per_epoch=422).steps_per_execution
    assert gpu > 1 and 422 / gpu >= MIN_CALLS_PER_EPOCH
    assert device_plan(TrainConfig(), [H200], "jax", steps_per_epoch=10).steps_per_execution == 1


def test_compiling_on_a_tensorflow_cpu_leaves_xla_off(settings):
    model = builder.build_model(presets.get_preset("Dense 64"),
                                max_params=settings.limits.max_params)
    plan = device_plan(TrainConfig(), [], "tensorflow")
    compile_model(model, TrainConfig(), jit_compile=plan.jit_compile)
    assert model.jit_compile is False


def test_a_mixed_precision_model_keeps_its_softmax_output_in_float32_and_the_policy_returns(
        settings):
    before = keras.mixed_precision.dtype_policy().name
    with precision_scope("mixed_bfloat16"):
        model = builder.build_model(presets.get_preset("Fast CNN"), output_float32=True,
                                    max_params=settings.limits.max_params)
    assert model.layers[0].dtype_policy.name == "mixed_bfloat16"
    assert model.layers[-1].dtype_policy.name == "float32"
    assert keras.mixed_precision.dtype_policy().name == before


# ---------------------------------------------------------------- a real tiny run


def test_a_tiny_one_cycle_run_records_its_schedule_and_device_on_the_card(settings):
    config = TrainConfig(architecture=TINY, epochs=1, batch_size=32, max_train_images=200,
                         schedule="one_cycle", learning_rate=0.005, mixed_precision=True,
                         seed=3)
    seen: list[int] = []
    probe = keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: seen.append(epoch))
    outcome = train_in_process(config, register=False, extra_callbacks=(probe,), settings=settings)
    assert outcome.status == "completed" and seen == [0]
    assert outcome.card["hyperparameters"]["schedule"] == "one_cycle"
    assert outcome.card["device"] == device_plan(TrainConfig(), [],
                                                 keras.backend.backend()).describe()
    assert outcome.card["backend"] == keras.backend.backend()
    assert "no GPU is visible" in outcome.card["device_notes"][0]
