"""One training run: configuration (no Keras), data preparation, callbacks, devices, and
the pipeline that runs them."""
