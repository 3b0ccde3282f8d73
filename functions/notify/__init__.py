"""Notify-queue consumer: snapshots for new WebSocket subscribers."""
