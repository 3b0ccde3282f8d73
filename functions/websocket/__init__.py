"""WebSocket routes function."""
