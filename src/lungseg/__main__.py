"""The ``lungseg`` command (``python -m lungseg``, also what ``torchrun -m lungseg`` starts): the CLI's
commands plus the web service's (``serve``, ``worker``, ``db``, ``admin``), which live in the web layer
so that no other layer imports it."""

from lungseg.cli.main import main
from lungseg.web import commands  # noqa: F401  (registers the web service's commands)

if __name__ == "__main__":
    main()
