"""Architecture specs: tutorial parameter counts, JSON round trips, and every invalid-stack
message a user can meet (each must name the layer and say how to fix it)."""

from __future__ import annotations

import json

import pytest

from dashcore.errors import UserError
from dashcore.models import builder, presets, specs, validation
from dashcore.models.specs import ModelSpec, StackError
from dashcore.settings import get_settings

OUT = {"type": "Dense", "units": 10, "activation": "softmax"}
FLAT = {"type": "Flatten"}


def stack(*layers: dict) -> ModelSpec:
    return ModelSpec(layers=[dict(layer) for layer in layers])


def problem(spec: ModelSpec) -> StackError:
    with pytest.raises(StackError) as info:
        validation.validate_spec(spec, get_settings().limits.max_params)
    return info.value


# --- Keras-exact numbers ---------------------------------------------------------------------


@pytest.mark.parametrize(("preset", "params"), [
    ("Dense 64", 50_890), ("MLP 2×512", 669_706), ("CNN 32-64", 34_826)])
def test_tutorial_presets_have_the_tutorials_parameter_counts(preset: str, params: int,
                                                              settings) -> None:
    summary = builder.summarize(presets.get_preset(preset), settings.limits.max_params)
    assert summary.total_params == params
    assert summary.trainable_params == params
    assert summary.non_trainable_params == 0


@pytest.mark.parametrize("preset", list(presets.PRESETS))
def test_summary_totals_and_rows_are_keras_own_for_every_preset(preset: str, settings) -> None:
    spec = presets.get_preset(preset)
    model = builder.build_model(spec, settings.limits.max_params)
    summary = builder.summarize(spec, settings.limits.max_params)
    assert summary.total_params == model.count_params()
    assert summary.trainable_params + summary.non_trainable_params == model.count_params()
    assert [row.params for row in summary.rows] == [layer.count_params() for layer in model.layers]
    assert sum(row.params for row in summary.rows) == summary.total_params
    assert [row.output_shape for row in summary.rows] == [
        tuple(layer.output.shape[1:]) for layer in model.layers]


def test_batch_normalization_running_statistics_count_as_non_trainable(settings) -> None:
    summary = builder.summarize(presets.get_preset("Best CNN"),
                                max_params=settings.limits.max_params)
    # moving mean + variance of BatchNorm layers over 32, 32, 64, 64 and 128 channels
    assert summary.non_trainable_params == 2 * (32 + 32 + 64 + 64 + 128) == 640
    assert summary.total_params == 198_762


CUSTOM_STACKS = {
    "GRU rows": stack({"type": "Reshape", "target_shape": [28, 28]},
                      {"type": "GRU", "units": 16}, OUT),
    "stacked LSTM": stack({"type": "Reshape", "target_shape": [28, 28]},
                          {"type": "LSTM", "units": 8, "return_sequences": True},
                          {"type": "LSTM", "units": 8}, OUT),
    "per-step Dense": stack({"type": "Reshape", "target_shape": [28, 28]},
                            {"type": "Dense", "units": 12}, FLAT, OUT),
    "same-padded 5×5": stack({"type": "Conv2D", "filters": 4, "kernel_size": 5,
                              "padding": "same"}, {"type": "BatchNormalization"},
                             {"type": "MaxPooling2D", "pool_size": 3}, FLAT, OUT),
}


@pytest.mark.parametrize("name", list(CUSTOM_STACKS))
def test_pure_python_shapes_and_counts_agree_with_keras(name: str, settings) -> None:
    spec = CUSTOM_STACKS[name]
    rows = builder.summarize(spec, settings.limits.max_params).rows
    assert validation.infer_shapes(spec) == [row.output_shape for row in rows]
    assert validation.estimate_params(spec) == [row.params for row in rows]


def test_summary_table_uses_keras_column_names_and_shapes(settings) -> None:
    table = builder.summarize(presets.get_preset("CNN 32-64"),
                              max_params=settings.limits.max_params).table()
    assert table[0]["Output shape"] == "(None, 26, 26, 32)"
    assert table[0]["Param #"] == 320
    assert table[-1]["Output shape"] == "(None, 10)"


# --- JSON ------------------------------------------------------------------------------------


@pytest.mark.parametrize("preset", list(presets.PRESETS))
def test_every_preset_round_trips_through_json_and_dict(preset: str) -> None:
    spec = presets.get_preset(preset)
    assert ModelSpec.from_json(spec.to_json()) == spec
    assert ModelSpec.from_json(spec.to_json(indent=2)) == spec
    assert ModelSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec
    assert spec.to_dict()["layers"][-1] == {"type": "Dense", "units": 10,
                                            "activation": "softmax"}


def test_get_preset_returns_a_copy_that_can_be_edited_freely() -> None:
    spec = presets.get_preset("Dense 64")
    spec.layers[1]["units"] = 999
    assert presets.get_preset("Dense 64").layers[1]["units"] == 64


@pytest.mark.parametrize(("text", "found"), [
    ("{not json", "not valid JSON"),
    ("[1, 2]", "expected an object"),
    ('{"input_shape": [28, 28, 1]}', "'layers'"),
    ('{"layers": [{"units": 3}]}', "layer 1 is not a dict with a 'type'"),
    ('{"layers": "Dense"}', "not a list"),
])
def test_broken_json_is_refused_with_what_was_expected(text: str, found: str) -> None:
    with pytest.raises(UserError, match="expected|JSON") as info:
        ModelSpec.from_json(text)
    assert found in str(info.value)


def test_with_data_fits_the_output_and_the_row_reader_to_a_new_dataset(settings) -> None:
    spec = presets.get_preset("LSTM rows").with_data((32, 32, 1), 5)
    assert spec.layers[0]["target_shape"] == [32, 32]
    assert spec.layers[-1]["units"] == 5
    validation.validate_spec(spec, settings.limits.max_params)


# --- invalid stacks: one test per kind --------------------------------------------------------


def test_conv_after_flatten_names_both_layers_and_says_to_move_it() -> None:
    spec = specs.add_layer(presets.get_preset("CNN 32-64"), specs.new_layer("Conv2D"), 5)
    error = problem(spec)
    assert str(error).startswith(
        "Layer 6 (Conv2D) needs an image (height × width × channels), but after layer 5 "
        "(Flatten) the data is a flat vector of 1,600 values.")
    assert "Move the Conv2D above the Flatten" in str(error)
    assert error.layer == 5


def test_dense_on_an_image_explains_per_pixel_and_suggests_flatten() -> None:
    error = problem(stack({"type": "Conv2D", "filters": 8}, {"type": "Dense", "units": 32},
                          FLAT, OUT))
    assert "Layer 2 (Dense)" in str(error)
    assert "every pixel" in str(error)
    assert "Add a Flatten above the Dense" in str(error)


def test_pool_larger_than_its_input_says_the_largest_that_fits() -> None:
    error = problem(stack({"type": "MaxPooling2D", "pool_size": 30}, FLAT, OUT))
    assert "Layer 1 (MaxPooling2D)" in str(error)
    assert "only 28×28 pixels" in str(error)
    assert "pool size of at most 28" in str(error)


def test_kernel_larger_than_a_pooled_image_offers_smaller_kernel_or_same_padding() -> None:
    error = problem(stack({"type": "MaxPooling2D", "pool_size": 8},
                          {"type": "Conv2D", "filters": 8, "kernel_size": 5}, FLAT, OUT))
    assert "Layer 2 (Conv2D) has a 5×5 kernel" in str(error)
    assert "after layer 1 (MaxPooling2D) the data is only 3×3 pixels" in str(error)
    assert "kernel of at most 3" in str(error) and "'same'" in str(error)


def test_recurrent_layer_on_an_image_suggests_reading_it_row_by_row() -> None:
    error = problem(stack({"type": "LSTM", "units": 32}, OUT))
    assert "Layer 1 (LSTM) needs a sequence" in str(error)
    assert "Add a Reshape to 28, 28 above it" in str(error)


def test_recurrent_layer_on_a_flat_vector_suggests_a_reshape() -> None:
    error = problem(stack(FLAT, {"type": "GRU", "units": 32}, OUT))
    assert "Layer 2 (GRU)" in str(error) and "flat vector of 784 values" in str(error)
    assert "Reshape to 28, 28" in str(error)


def test_reshape_whose_sizes_do_not_multiply_to_the_input_size_gives_sizes_that_do() -> None:
    error = problem(stack({"type": "Reshape", "target_shape": [28, 27]},
                          {"type": "LSTM", "units": 8}, OUT))
    assert "Layer 1 (Reshape) asks for 28×27 = 756 values" in str(error)
    assert "784 values" in str(error) and "multiply to 784, e.g. 28, 28" in str(error)


@pytest.mark.parametrize("rate", [1.0, -0.1, "half"])
def test_dropout_rate_outside_zero_to_one_is_refused(rate) -> None:
    error = problem(stack(FLAT, {"type": "Dropout", "rate": rate}, OUT))
    assert "Layer 2 (Dropout)" in str(error)
    assert "below 1" in str(error) and "Use e.g. 0.25 or 0.5" in str(error)


@pytest.mark.parametrize(("layer", "setting"), [
    ({"type": "Dense", "units": 0}, "units = 0"),
    ({"type": "Dense", "units": 64_000}, "units = 64,000"),
    ({"type": "Dense", "units": 2.5}, "units = 2.5"),
])
def test_units_that_are_zero_absurd_or_fractional_are_refused_with_a_range(layer, setting) -> None:
    error = problem(stack(FLAT, layer, OUT))
    assert f"Layer 2 (Dense) has {setting}" in str(error)
    assert "from 1 to 10,000" in str(error) and "Set it to e.g. 64" in str(error)


def test_filters_of_zero_are_refused() -> None:
    error = problem(stack({"type": "Conv2D", "filters": 0}, FLAT, OUT))
    assert "Layer 1 (Conv2D) has filters = 0" in str(error) and "e.g. 32" in str(error)


def test_a_model_too_big_to_train_names_its_largest_layer() -> None:
    error = problem(stack(FLAT, {"type": "Dense", "units": 9000},
                          {"type": "Dense", "units": 9000}, OUT))
    assert "88,164,010 parameters" in str(error)
    assert "layer 3 (Dense) with 81,009,000" in str(error) and "fewer units" in str(error)
    assert error.layer == 2


def test_last_layer_that_is_not_dense_asks_for_the_output_layer() -> None:
    error = problem(stack(FLAT, OUT, {"type": "Dropout", "rate": 0.5}))
    assert "The last layer (layer 3, Dropout) is not an output layer" in str(error)
    assert "End the stack with Dense(10, softmax)" in str(error)


def test_last_layer_with_the_wrong_width_asks_for_one_unit_per_class() -> None:
    error = problem(stack(FLAT, {"type": "Dense", "units": 5, "activation": "softmax"}))
    assert "(layer 2, Dense) has 5 units" in str(error) and "Set its units to 10" in str(error)


def test_last_layer_without_softmax_asks_for_softmax() -> None:
    error = problem(stack(FLAT, {"type": "Dense", "units": 10, "activation": "relu"}))
    assert "uses activation 'relu'" in str(error)
    assert "Set its activation to softmax" in str(error)


def test_output_on_a_sequence_suggests_turning_off_return_sequences() -> None:
    error = problem(stack({"type": "Reshape", "target_shape": [28, 28]},
                          {"type": "LSTM", "units": 8, "return_sequences": True}, OUT))
    assert "a class for every step" in str(error)
    assert "Turn off return_sequences on layer 2 (LSTM)" in str(error)


def test_an_empty_stack_says_to_pick_a_preset_or_add_layers() -> None:
    error = problem(ModelSpec(layers=[]))
    assert "no layers" in str(error) and "Pick a preset" in str(error)


def test_an_unknown_layer_type_lists_the_types_on_offer() -> None:
    error = problem(stack({"type": "Conv3D"}, OUT))
    assert "Layer 1 has type 'Conv3D'" in str(error)
    assert "Dense, Conv2D, MaxPooling2D" in str(error)


def test_an_unknown_activation_lists_the_activations_on_offer() -> None:
    error = problem(stack(FLAT, {"type": "Dense", "units": 10, "activation": "softmaxx"}))
    assert "Layer 2 (Dense) has activation 'softmaxx'" in str(error)
    assert "relu, softmax" in str(error)


def test_a_misspelt_setting_is_named_with_the_settings_the_layer_takes() -> None:
    error = problem(stack(FLAT, {"type": "Dense", "unit": 10, "activation": "softmax"}))
    assert "Layer 2 (Dense) has setting 'unit'" in str(error)
    assert "takes units, activation" in str(error)


def test_build_model_refuses_an_invalid_stack_with_the_same_sentence(settings) -> None:
    spec = stack(FLAT, {"type": "Conv2D", "filters": 8}, OUT)
    with pytest.raises(StackError, match=r"Layer 2 \(Conv2D\) needs an image"):
        builder.build_model(spec, settings.limits.max_params)


def test_trace_stack_keeps_the_shapes_before_the_problem(settings) -> None:
    limit = settings.limits.max_params
    shapes, error = validation.trace_stack(stack(FLAT, {"type": "Conv2D", "filters": 8}, OUT),
                                           limit)
    assert shapes == [(784,), None, None]
    assert error is not None and error.layer == 1
    assert validation.trace_stack(presets.get_preset("Dense 64"), limit) == (
        [(784,), (64,), (10,)], None)


# --- editing ---------------------------------------------------------------------------------


def test_edits_return_a_new_spec_and_leave_the_original_alone() -> None:
    spec = presets.get_preset("Dense 64")
    added = specs.add_layer(spec, specs.new_layer("Dropout"))
    assert [layer["type"] for layer in added.layers] == ["Flatten", "Dense", "Dropout", "Dense"]
    assert added.name == "Dense 64 (edited)" and len(spec.layers) == 3
    assert [layer["type"] for layer in specs.move_layer(added, 2, -1).layers][:3] == [
        "Flatten", "Dropout", "Dense"]
    assert [layer["type"] for layer in specs.remove_layer(added, 0).layers][0] == "Dense"
    changed = specs.replace_layer(spec, 1, {"type": "Dense", "units": 128, "activation": "tanh"})
    assert changed.layers[1]["units"] == 128 and spec.layers[1]["units"] == 64
    assert specs.move_layer(spec, 0, -1) == spec  # already at the top


def test_removing_a_layer_that_does_not_exist_says_how_many_there_are() -> None:
    with pytest.raises(UserError, match="no layer 9: the model has 3 layers"):
        specs.remove_layer(presets.get_preset("Dense 64"), 8)


@pytest.mark.parametrize(("text", "dims"), [("28, 28", [28, 28]), ("28x28x1", [28, 28, 1]),
                                            ("784", [784])])
def test_reshape_targets_typed_as_text_are_parsed(text: str, dims: list[int]) -> None:
    assert specs.parse_shape(text) == dims


@pytest.mark.parametrize("text", ["28, a", "0, 28", "", "1, 2, 3, 4"])
def test_reshape_targets_that_are_not_shapes_are_refused_with_an_example(text: str) -> None:
    with pytest.raises(UserError, match="e.g. 28, 28"):
        specs.parse_shape(text)


def test_the_empty_start_is_one_flatten_away_from_valid(settings) -> None:
    empty = presets.empty_spec()
    assert "Add a Flatten above the Dense" in str(problem(empty))
    validation.validate_spec(specs.add_layer(empty, specs.new_layer("Flatten"), 0),
                             max_params=settings.limits.max_params)
