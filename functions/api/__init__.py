"""REST API function."""
