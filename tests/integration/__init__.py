"""Tests that drive the local stack over real sockets on 127.0.0.1."""
