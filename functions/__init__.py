"""Lambda entry points: thin adapters from one AWS event shape to a `horizon` service.

In Lambda each folder is its own asset (handler `handler.handler`); locally and in tests the same
files are imported as `functions.<name>.handler`.
"""
