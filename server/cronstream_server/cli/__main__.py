"""`python -m cronstream_server.cli`, as `cronstream`."""

from cronstream_server.cli import main

main()
