"""The lungseg web service (FastAPI): accounts, uploads, background jobs, results; the top layer, which nothing
imports."""
