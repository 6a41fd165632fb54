"""``python -m logging_audit`` runs the ``logaudit`` command line."""

from logging_audit._cli import main

main()
