"""`python -m watchkeeper` runs the command line, like the `watchkeeper` script."""

from watchkeeper.cli.main import main

main()
