"""Training machinery above dataset/ and model/: flags, the epoch loop and runner, precision, schedules,
loaders, distributed set-up and the command-line entry point."""
