"""Event Horizon's shared library, shipped to every Lambda as the `core` layer."""
