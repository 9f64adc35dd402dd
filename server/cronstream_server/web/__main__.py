"""`python -m cronstream_server.web`: the HTTP port's process (web/child.py)."""

from cronstream_server.web.child import main

main()
