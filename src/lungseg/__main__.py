"""``python -m lungseg`` runs the command line (also what ``torchrun -m lungseg`` starts)."""

from lungseg.cli.main import main

if __name__ == "__main__":
    main()
