"""`python -m obs_support` runs the command line."""

from obs_support.cli.main import main

main()
