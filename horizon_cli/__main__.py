"""`python -m horizon_cli` runs the same app as the `horizon` script."""

from horizon_cli.main import app

app(prog_name="horizon")
