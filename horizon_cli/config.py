"""Where the API is and which key to use: flags, then environment, then a profile file.

The profile file is TOML (`~/.config/horizon/config.toml`, or `HORIZON_CONFIG`), one table
per profile; `--profile` / `HORIZON_PROFILE` picks one (default `default`):

    [default]
    url = "http://127.0.0.1:8000"

    [prod]
    url = "https://abc123.execute-api.eu-west-1.amazonaws.com/prod"
    ws_url = "wss://def456.execute-api.eu-west-1.amazonaws.com/prod"
    api_key = "hzn_..."
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from horizon_cli.errors import UsageProblem

DEFAULT_URL = "http://127.0.0.1:8000"  # what `make up` serves
DEFAULT_PROFILE = "default"
FIELDS = ("url", "ws_url", "api_key")


@dataclass(frozen=True)
class Config:
    """The resolved endpoint and credential.

    Attributes:
        url: the REST base URL, without a trailing slash.
        ws_url: the WebSocket URL.
        api_key: the credential, or None (a local stack without keys serves everyone).
        profile: the profile the file values came from.
    """

    url: str
    ws_url: str
    api_key: str | None
    profile: str


def default_config_path(env: Mapping[str, str]) -> Path:
    if env.get("HORIZON_CONFIG"):
        return Path(env["HORIZON_CONFIG"]).expanduser()
    base = Path(env["XDG_CONFIG_HOME"]) if env.get("XDG_CONFIG_HOME") else Path.home() / ".config"
    return base / "horizon" / "config.toml"


def derive_ws_url(url: str) -> str:
    """The local stack's WebSocket URL for a REST URL: same host, ws(s), path `/ws`.

    A deployed stack has a WebSocket API of its own (output `WebSocketUrl`): set `ws_url`.
    """
    parts = urlsplit(url)
    scheme = "wss" if parts.scheme == "https" else "ws"
    return urlunsplit((scheme, parts.netloc, parts.path.rstrip("/") + "/ws", "", ""))


def read_profile(path: Path, name: str, required: bool) -> dict[str, str]:
    """Return the profile's values from the file (empty when the file does not exist).

    Raises:
        UsageProblem: the file is not TOML, the profile is missing (when `required`: it was
            asked for by name), or a value is not a string.
    """
    try:
        document: dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        if required:
            raise UsageProblem(f"profile {name!r} asked for, but {path} does not exist") from None
        return {}
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise UsageProblem(f"cannot read the config file {path}: {error}") from error
    profile = document.get(name)
    if profile is None:
        if required:
            raise UsageProblem(f"no profile [{name}] in {path}")
        return {}
    if not isinstance(profile, dict):
        raise UsageProblem(f"[{name}] in {path} must be a table")
    values: dict[str, str] = {}
    for key in FIELDS:
        value = profile.get(key)
        if value is not None and not isinstance(value, str):
            raise UsageProblem(f"{key} of [{name}] in {path} must be a string")
        if value:
            values[key] = value
    return values


def resolve(
    url: str | None = None,
    ws_url: str | None = None,
    api_key: str | None = None,
    profile: str | None = None,
    env: Mapping[str, str] | None = None,
) -> Config:
    """Resolve the configuration: each value from its flag, else its environment variable
    (`HORIZON_URL`, `HORIZON_WS_URL`, `HORIZON_API_KEY`), else the profile, else the default.

    Raises:
        UsageProblem: an unusable config file or URL.
    """
    env = os.environ if env is None else env
    name = profile or env.get("HORIZON_PROFILE") or DEFAULT_PROFILE
    asked = bool(profile or env.get("HORIZON_PROFILE"))
    stored = read_profile(default_config_path(env), name, required=asked)
    flags = {"url": url, "ws_url": ws_url, "api_key": api_key}
    values = {
        key: flags[key] or env.get(f"HORIZON_{key.upper()}") or stored.get(key) for key in FIELDS
    }
    base = (values["url"] or DEFAULT_URL).rstrip("/")
    if urlsplit(base).scheme not in ("http", "https") or not urlsplit(base).netloc:
        raise UsageProblem(f"the API URL must be http(s)://host[:port][/stage], not {base!r}")
    socket_url = values["ws_url"] or derive_ws_url(base)
    if urlsplit(socket_url).scheme not in ("ws", "wss"):
        raise UsageProblem(f"the WebSocket URL must be ws(s)://..., not {socket_url!r}")
    return Config(url=base, ws_url=socket_url, api_key=values["api_key"] or None, profile=name)
