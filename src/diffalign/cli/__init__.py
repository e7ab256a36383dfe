"""The `diffalign` command line."""
