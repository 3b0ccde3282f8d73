"""`horizon keys ...`: API keys (admin key): create, list, revoke."""

from __future__ import annotations

from typing import Annotated

import typer

from horizon_cli.state import JsonOption, state

app = typer.Typer(help="API keys (needs an admin key): create, list, revoke.", no_args_is_help=True)
COLUMNS = ("key_id", "tenant", "tier", "role", "name", "created_at", "revoked_at")


@app.command()
def create(
    ctx: typer.Context,
    tenant: Annotated[str, typer.Option(help="The tenant the key acts for.")],
    tier: Annotated[str, typer.Option(help="free, pro or enterprise.")] = "free",
    role: Annotated[str, typer.Option(help="admin, member or reader.")] = "member",
    name: Annotated[str | None, typer.Option(help="A name to recognise it by.")] = None,
    json_mode: JsonOption = False,
) -> None:
    """Create a key; it is shown this once (only a digest is stored)."""
    current = state(ctx, json_mode)
    body = {"tenant": tenant, "tier": tier, "role": role, **({"name": name} if name else {})}
    created = current.client.post("/api/v1/keys", body)

    def render() -> None:
        current.output.fields(created)
        current.output.note("the key is shown this once: store it now")

    current.output.answer(created, render)


@app.command("list")
def list_keys(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1)] = 100,
    json_mode: JsonOption = False,
) -> None:
    """Every key's metadata (never the key)."""
    current = state(ctx, json_mode)
    found = list(current.client.pages("/api/v1/keys", "keys", limit))
    current.output.answer(
        found, lambda: current.output.table(COLUMNS, [[k.get(c) for c in COLUMNS] for k in found])
    )


@app.command()
def revoke(
    ctx: typer.Context,
    key_id: Annotated[str, typer.Argument(help="The key's id (`hzn_<key_id>_...`).")],
    json_mode: JsonOption = False,
) -> None:
    """Revoke a key: its next call gets 401."""
    current = state(ctx, json_mode)
    revoked = current.client.delete(f"/api/v1/keys/{key_id}")
    current.output.answer(
        revoked, lambda: current.output.line(f"revoked {key_id} at {revoked.get('revoked_at')}")
    )
