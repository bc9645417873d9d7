"""A few lines of code for each export: load it and predict, with the preprocessing it expects.

Models here read float32 images scaled to 0–1 (``pixel / 255``), shaped like the card's
``input_shape`` with a batch axis in front; MNIST-like models expect a white digit on black,
centred in 28×28. The snippets say exactly that, so a copied snippet gives the answers the
workbench gives.
"""

from __future__ import annotations

from typing import Any

from dashcore.models.cards import ModelCard


def _shape(card: ModelCard) -> str:
    return ", ".join(str(d) for d in (1, *card.input_shape))


def _labels(card: ModelCard) -> str:
    labels = list(card.labels)
    if labels == [str(i) for i in range(len(labels))]:
        return ""
    return f"LABELS = {labels!r}\n"


def _preprocess(card: ModelCard) -> str:
    side = "×".join(str(d) for d in card.input_shape[:2])
    return (f"# image: a {side} grey uint8 array, white strokes on black (as in MNIST)\n"
            f'x = (image.astype("float32") / 255.0).reshape({_shape(card)})\n')


def _answer(card: ModelCard) -> str:
    if _labels(card):
        return "print(LABELS[int(probs.argmax())], float(probs.max()))\n"
    return "print(int(probs.argmax()), float(probs.max()))  # class, probability\n"


def python_snippet(fmt: str, file_name: str, card_dict: dict[str, Any]) -> str:
    """'Use it in Python': load the downloaded file and classify one image."""
    card = ModelCard.from_dict(card_dict)
    head = "import numpy as np\n"
    if fmt == "savedmodel":
        load = ("import tensorflow as tf\n\n"
                f'# unzip {file_name} first: it holds the folder "savedmodel"\n'
                'model = tf.saved_model.load("savedmodel")\n')
        run = "probs = model.serve(tf.constant(x)).numpy()[0]\n"
    elif fmt in ("tflite", "tflite_quant"):
        load = ("import tensorflow as tf  # or: from ai_edge_litert.interpreter import "
                "Interpreter\n\n"
                f'interpreter = tf.lite.Interpreter(model_path="{file_name}")\n'
                "interpreter.allocate_tensors()\n"
                "inp = interpreter.get_input_details()[0]\n"
                "out = interpreter.get_output_details()[0]\n")
        run = ('interpreter.set_tensor(inp["index"], x)\n'
               "interpreter.invoke()\n"
               'probs = interpreter.get_tensor(out["index"])[0]\n')
    else:  # .keras / .h5
        load = ("import keras\n\n"
                f'model = keras.saving.load_model("{file_name}")\n')
        run = "probs = np.asarray(model(x, training=False))[0]\n"
    return head + load + _labels(card) + _preprocess(card) + run + _answer(card)


def phone_snippet(file_name: str, card_dict: dict[str, Any]) -> str:
    """'Use it on a phone': Android (Kotlin) with the LiteRT/TFLite ``Interpreter``."""
    card = ModelCard.from_dict(card_dict)
    dims = list(card.input_shape)
    if len(dims) == 3:
        array = (f"Array(1) {{ Array({dims[0]}) {{ Array({dims[1]}) "
                 f"{{ FloatArray({dims[2]}) }} }} }}")
        fill = "input[0][row][col][0] = pixel(row, col) / 255f"
    else:
        array = f"Array(1) {{ FloatArray({dims[-1]}) }}"
        fill = "input[0][i] = pixel(i) / 255f"
    return (
        "// build.gradle: implementation(\"com.google.ai.edge.litert:litert:1.+\")\n"
        f"// put {file_name} in app/src/main/assets\n"
        "val interpreter = Interpreter(FileUtil.loadMappedFile(context, "
        f"\"{file_name}\"))\n"
        f"val input = {array}\n"
        f"// white strokes on black, scaled to 0..1: {fill}\n"
        f"val output = Array(1) {{ FloatArray({card.num_classes}) }}\n"
        "interpreter.run(input, output)\n"
        "val best = output[0].indices.maxBy { output[0][it] }  // the class index\n")
