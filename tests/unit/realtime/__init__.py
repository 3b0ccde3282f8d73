"""WebSocket and live progress tests."""
