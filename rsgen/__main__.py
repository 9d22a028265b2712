"""`python -m rsgen` runs the command line."""

from rsgen.cli import main

main()
