"""Command-line interface (typer); a leaf that nothing else imports."""
