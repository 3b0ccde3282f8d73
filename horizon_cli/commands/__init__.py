"""One module per capability; each has `register(app)` or a sub-app `app`."""
