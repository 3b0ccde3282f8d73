"""Emulation of API Gateway (REST, WebSocket, @connections) for the local stack."""
