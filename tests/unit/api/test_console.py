"""The web console's static files, its config.json, and that none of it is in the API's schema."""

from __future__ import annotations

import pytest

from horizon.api.console import CONSOLE_DIR, ConsoleConfig, websocket_url
from horizon.api.console_headers import CONTENT_SECURITY_POLICY, content_security_policy

ASSETS = sorted(
    p.relative_to(CONSOLE_DIR).as_posix() for p in CONSOLE_DIR.rglob("*") if p.is_file()
)


def test_console_redirects_to_its_folder(client):
    response = client.get("/console", follow_redirects=False)
    assert response.status_code == 307
    # Relative: behind a stage, /prod/console goes to /prod/console/.
    assert response.headers["location"] == "console/"


def test_index_is_html_with_the_security_headers(client):
    response = client.get("/console/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert response.headers["x-content-type-options"] == "nosniff"
    assert '<script type="module" src="js/main.js">' in response.text


@pytest.mark.parametrize("asset", [a for a in ASSETS if a.endswith((".js", ".css"))])
def test_assets_have_their_content_types(client, asset):
    response = client.get(f"/console/{asset}")
    assert response.status_code == 200
    expected = "text/css" if asset.endswith(".css") else "javascript"
    assert expected in response.headers["content-type"]
    assert "charset=utf-8" in response.headers["content-type"]


def test_no_inline_script_or_style():
    """The policy forbids inline code; the files hold none (an attribute handler would break)."""
    for asset in ASSETS:
        if asset.endswith(".html"):
            text = (CONSOLE_DIR / asset).read_text()
            assert "<script>" not in text and " on" not in text.replace(" one", "")
            assert "style=" not in text and "<style" not in text


def test_unknown_asset_is_404_with_the_headers(client):
    response = client.get("/console/nope.js")
    assert response.status_code == 404
    assert "content-security-policy" in response.headers


def test_config_names_the_deployed_websocket_api(client):
    # The test plane's callback URL is a deployed-looking https one (tests/conftest.py).
    answer = client.get("/console/config.json").json()
    assert answer == {
        "ws_url": "wss://example.execute-api.us-east-1.amazonaws.com/prod",
        "sign_in_required": False,
    }


def test_config_may_name_the_rest_api_for_a_copy_served_elsewhere():
    """The CloudFront copy's config.json (written by CDK) names the API; the API's own leaves
    it out (test above), so the console keeps using its parent URL."""
    url = "https://abc.execute-api.eu-west-1.amazonaws.com/prod/"
    config = ConsoleConfig(ws_url=None, sign_in_required=True, api_url=url)
    assert config.api_url == url
    assert ConsoleConfig(ws_url=None, sign_in_required=True).api_url is None


def test_policy_lets_a_copy_served_elsewhere_call_the_api():
    origin = "https://abc.execute-api.eu-west-1.amazonaws.com"
    assert f"connect-src 'self' {origin} wss:;" in content_security_policy(origin)
    assert "connect-src 'self' wss:;" in CONTENT_SECURITY_POLICY


def test_config_says_when_a_key_is_needed(client, tenants):
    assert client.get("/console/config.json").json()["sign_in_required"] is True


@pytest.mark.parametrize(
    ("configured", "callback", "expected"),
    [
        (
            "wss://ws.example.org",
            "https://x.execute-api.eu-west-1.amazonaws.com/prod",
            "wss://ws.example.org",
        ),
        (
            None,
            "https://x.execute-api.eu-west-1.amazonaws.com/prod/",
            "wss://x.execute-api.eu-west-1.amazonaws.com/prod",
        ),
        (None, "http://127.0.0.1:8000/@connections", None),
    ],
)
def test_websocket_url(configured, callback, expected):
    assert websocket_url(configured, callback) == expected


def test_console_is_not_in_the_openapi_document(client):
    paths = client.get("/openapi.json").json()["paths"]
    assert not [path for path in paths if path.startswith("/console")]
