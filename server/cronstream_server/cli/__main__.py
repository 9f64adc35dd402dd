"""`python -m cronstream_server.cli`, as `cronstream`."""

from cronstream_server.cli import main

if __name__ == "__main__":
    main()
