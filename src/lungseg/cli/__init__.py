"""Command-line interface (typer); a leaf that nothing else imports.

Each command imports the library inside its function, so ``lungseg --help`` and a mistyped option answer
at once, without loading NumPy, PyTorch or ONNX Runtime; the modules import at the top only what is
light (config, errors, the disclaimer)."""
