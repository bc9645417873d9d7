"""Reading one drawing: canvas → MNIST-style 28×28, and the shared fast predictor."""
