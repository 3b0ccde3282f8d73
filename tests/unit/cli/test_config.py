"""Where the endpoint and key come from: flags, then environment, then the profile file."""

from __future__ import annotations

from pathlib import Path

import pytest

from horizon_cli.config import derive_ws_url, resolve
from horizon_cli.errors import UsageProblem

PROFILES = """
[default]
url = "http://file-default:8000"

[prod]
url = "https://abc.execute-api.eu-west-1.amazonaws.com/prod"
ws_url = "wss://def.execute-api.eu-west-1.amazonaws.com/prod"
api_key = "hzn_file"
"""


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(PROFILES)
    return path


def test_without_anything_it_is_the_local_stack(tmp_path: Path) -> None:
    config = resolve(env={"HORIZON_CONFIG": str(tmp_path / "absent.toml")})
    assert (config.url, config.ws_url, config.api_key) == (
        "http://127.0.0.1:8000",
        "ws://127.0.0.1:8000/ws",
        None,
    )


def test_flags_beat_the_environment_which_beats_the_profile(config_file: Path) -> None:
    env = {"HORIZON_CONFIG": str(config_file), "HORIZON_API_KEY": "hzn_env"}
    assert resolve(profile="prod", env=env).api_key == "hzn_env"
    assert resolve(profile="prod", api_key="hzn_flag", env=env).api_key == "hzn_flag"
    chosen = resolve(env={**env, "HORIZON_PROFILE": "prod"})
    assert chosen.ws_url.startswith("wss://def.")
    assert chosen.url.endswith("/prod")
    assert resolve(env={"HORIZON_CONFIG": str(config_file)}).url == "http://file-default:8000"


def test_a_profile_asked_for_must_exist(config_file: Path, tmp_path: Path) -> None:
    with pytest.raises(UsageProblem, match=r"no profile \[staging\]"):
        resolve(profile="staging", env={"HORIZON_CONFIG": str(config_file)})
    with pytest.raises(UsageProblem, match="does not exist"):
        resolve(profile="prod", env={"HORIZON_CONFIG": str(tmp_path / "absent.toml")})


def test_a_broken_file_or_url_is_a_usage_problem(tmp_path: Path) -> None:
    broken = tmp_path / "broken.toml"
    broken.write_text("[default\nurl=")
    with pytest.raises(UsageProblem, match="cannot read the config file"):
        resolve(env={"HORIZON_CONFIG": str(broken)})
    with pytest.raises(UsageProblem, match="http"):
        resolve(url="127.0.0.1:8000", env={"HORIZON_CONFIG": str(tmp_path / "absent.toml")})


def test_the_websocket_url_follows_the_rest_url() -> None:
    assert derive_ws_url("https://example.org/stage/") == "wss://example.org/stage/ws"
    assert derive_ws_url("http://127.0.0.1:9000") == "ws://127.0.0.1:9000/ws"
