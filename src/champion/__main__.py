"""``python -m champion`` runs the command line."""

from champion.cli import main

main()
