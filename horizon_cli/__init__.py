"""`horizon`: the Event Horizon command line, built on the public API only (REST + WebSocket).

It works the same against `make up` and a deployed stack; see README.md, "Command line".
"""

__version__ = "0.1.0"
