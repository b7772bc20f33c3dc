"""The `obs-support` command line."""
