"""`python -m cronstream_server.web`: the HTTP port's process (web/child.py)."""

from cronstream_server.web.child import main

if __name__ == "__main__":  # imported (as by a check that every module imports), it does nothing
    main()
