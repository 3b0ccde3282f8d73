"""The `horizon` app: global options, the commands, and errors turned into exit codes."""

from __future__ import annotations

import json
import os
import sys
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from horizon_cli import __version__
from horizon_cli.commands import batches, email, execute, keys, logs, query, tasks
from horizon_cli.errors import CliError, ExitCode
from horizon_cli.state import Hooks, State


def report(ctx: typer.Context, message: str, code: int) -> None:
    """One line on stderr (a JSON object with `--json`), never a traceback."""
    json_mode = isinstance(ctx.obj, State) and ctx.obj.json_mode
    if json_mode:
        sys.stderr.write(json.dumps({"error": message, "exit_code": code}) + "\n")
    else:
        sys.stderr.write(f"horizon: {message}\n")
    sys.stderr.flush()


class HorizonGroup(TyperGroup):
    """The root group: every command runs inside its `invoke`, so one place maps failures."""

    def invoke(self, ctx: typer.Context) -> Any:  # type: ignore[override]
        try:
            return super().invoke(ctx)
        except CliError as error:
            report(ctx, error.message, error.exit_code)
            raise typer.Exit(error.exit_code) from None
        except KeyboardInterrupt:
            report(ctx, "interrupted", ExitCode.INTERRUPTED)
            raise typer.Exit(ExitCode.INTERRUPTED) from None
        except (typer.Exit, typer.Abort, typer.TyperException):
            raise
        except Exception as error:
            # A bug of ours: say what it was in one line; HORIZON_DEBUG=1 shows the traceback.
            if os.environ.get("HORIZON_DEBUG"):
                raise
            report(ctx, f"unexpected error: {type(error).__name__}: {error}", ExitCode.FAILED)
            raise typer.Exit(ExitCode.FAILED) from None


EXIT_CODES = (
    "Exit codes: 0 ok, 1 the work failed, 2 usage or configuration, 3 key refused (401/403), "
    "4 not found, 5 rate limited (429), 6 server unreachable, 7 other API error, "
    "130 interrupted; `task` and `exec` exit with the program's own code."
)

app = typer.Typer(
    cls=HorizonGroup,
    name="horizon",
    help="Event Horizon from the command line: logs, tasks, batches, code, email, keys.",
    epilog=EXIT_CODES,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"horizon {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    ctx: typer.Context,
    url: Annotated[
        str | None,
        typer.Option(help="REST base URL (env HORIZON_URL; default http://127.0.0.1:8000)"),
    ] = None,
    ws_url: Annotated[
        str | None,
        typer.Option(help="WebSocket URL (env HORIZON_WS_URL; default: the URL's host at /ws)"),
    ] = None,
    api_key: Annotated[
        str | None, typer.Option(help="API key or token (env HORIZON_API_KEY)", show_default=False)
    ] = None,
    profile: Annotated[
        str | None,
        typer.Option(help="Profile of ~/.config/horizon/config.toml (env HORIZON_PROFILE)"),
    ] = None,
    json_mode: Annotated[
        bool, typer.Option("--json", help="Print answers as JSON on stdout (for scripts).")
    ] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    """Event Horizon from the command line."""
    hooks = ctx.obj if isinstance(ctx.obj, Hooks) else Hooks()
    options = {"url": url, "ws_url": ws_url, "api_key": api_key, "profile": profile}
    ctx.obj = State(options=options, json_mode=json_mode, hooks=hooks)


for module in (logs, query, tasks, batches, execute):
    module.register(app)
app.add_typer(email.app, name="email")
app.add_typer(keys.app, name="keys")
