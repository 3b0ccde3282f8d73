"""What a command works with: the configuration, the clients and the output, made once per
invocation and kept in typer's context (`ctx.obj`)."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from dataclasses import dataclass, field
from functools import cached_property
from typing import Annotated, Any, TypeVar

import httpx
import typer

from horizon_cli.client import ApiClient
from horizon_cli.config import Config, resolve
from horizon_cli.output import Output
from horizon_cli.realtime import Realtime

T = TypeVar("T")

JsonOption = Annotated[
    bool, typer.Option("--json", help="Print the answer as JSON on stdout (for scripts).")
]


@dataclass
class Hooks:
    """What a caller may put in `ctx.obj` before the app runs: tests pass a MockTransport."""

    transport: httpx.BaseTransport | None = None


@dataclass
class State:
    """One invocation's settings and clients (the clients are made on first use)."""

    options: dict[str, str | None]
    json_mode: bool
    hooks: Hooks = field(default_factory=Hooks)

    @cached_property
    def config(self) -> Config:
        return resolve(**self.options)

    @cached_property
    def output(self) -> Output:
        return Output(self.json_mode)

    @cached_property
    def client(self) -> ApiClient:
        return ApiClient(self.config.url, self.config.api_key, transport=self.hooks.transport)

    @cached_property
    def realtime(self) -> Realtime:
        return Realtime(self.config.ws_url, self.config.api_key)

    def run(self, work: Coroutine[Any, Any, T]) -> T:
        """Run a coroutine (WebSocket work) to its end."""
        return asyncio.run(work)


def state(ctx: typer.Context, json_mode: bool = False) -> State:
    """The invocation's state; a command's own `--json` turns JSON on as the global one does."""
    current: State = ctx.obj
    if json_mode and not current.json_mode:
        current.json_mode = True
        current.__dict__.pop("output", None)  # drop a cached human-mode Output, if any
    return current
