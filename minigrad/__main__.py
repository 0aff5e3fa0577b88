"""``python -m minigrad``: the same as the ``minigrad`` command (help without a subcommand)."""

from minigrad.cli.command import main

raise SystemExit(main())
