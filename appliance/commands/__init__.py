"""One module per `ardoise` subcommand: register(subparsers, common) + a run function."""
