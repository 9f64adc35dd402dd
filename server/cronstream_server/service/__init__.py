"""The use cases: each one transaction through the ports, returning what to
publish once it committed (see docs/architecture.md)."""
