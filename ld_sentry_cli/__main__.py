"""Allow `python -m ld_sentry_cli`."""

from ld_sentry_cli.cli import main

main()
