"""Networks as data (specs, presets with their recipes), building, the registry of saved
models with their cards, uploads, export, and the shipped default model."""
