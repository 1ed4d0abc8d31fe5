"""One module per `fleetc` command; each exports `add_arguments(parser)` and `run(args)`."""
