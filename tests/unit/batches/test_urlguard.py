"""Which URLs batch tasks may reach: no metadata address, never the Lambda Runtime API."""

from __future__ import annotations

import pytest

from horizon.agent import wordcount
from horizon.agent.urlguard import (
    RUNTIME_API_ENV,
    Endpoint,
    UrlRefusedError,
    check_url,
    forbidden_address,
    runtime_api,
)


@pytest.mark.parametrize(
    "address",
    [
        "169.254.169.254",
        "169.254.170.2",
        "169.254.0.1",
        "fd00:ec2::254",
        "fe80::1",
        "fe80::1%eth0",
        "::ffff:169.254.169.254",
        "0.0.0.0",
    ],
)
def test_metadata_and_link_local_addresses_are_forbidden(address):
    assert forbidden_address(address)


@pytest.mark.parametrize(
    "address", ["127.0.0.1", "10.0.0.5", "93.184.216.34", "::1", "2001:db8::1"]
)
def test_ordinary_addresses_are_allowed(address):
    assert not forbidden_address(address)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("file:///etc/passwd", "only http and https"),
        ("ftp://example.com/x", "only http and https"),
        ("gopher://example.com/", "only http and https"),
        ("http:///nohost", "no host"),
        ("http://169.254.169.254/latest/meta-data/", "metadata"),
        ("http://[fd00:ec2::254]/", "metadata"),
    ],
)
def test_refused_urls_say_why(url, reason):
    with pytest.raises(UrlRefusedError, match=reason):
        check_url(url, resolve=lambda host: ["127.0.0.1"])


def test_a_name_resolving_to_a_metadata_address_is_refused():
    resolved = {"metadata.attacker.example": ["93.184.216.34", "169.254.169.254"]}
    with pytest.raises(UrlRefusedError, match="metadata"):
        check_url("http://metadata.attacker.example/", resolve=resolved.__getitem__)
    check_url("https://example.com/page", resolve=lambda host: ["93.184.216.34"])


def test_an_unresolvable_host_is_refused():
    with pytest.raises(UrlRefusedError, match="could not resolve"):
        check_url("http://no-such-host.invalid/")


# -- the Lambda Runtime API -----------------------------------------------------------------

RUNTIME_API = Endpoint("127.0.0.1", 9001)
NAMES = {
    "localhost": ["127.0.0.1", "::1"],
    "runtime.attacker.example": ["93.184.216.34", "127.0.0.1"],
    "example.com": ["93.184.216.34"],
}


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9001/2018-06-01/runtime/invocation/next",
        "https://127.0.0.1:9001/",
        "http://127.0.0.1:09001/",
        "http://localhost:9001/2018-06-01/runtime/invocation/next",
        "http://LOCALHOST:9001/",
        "http://127.0.0.2:9001/",
        "http://127.255.255.254:9001/",
        "http://[::1]:9001/",
        "http://0.0.0.0:9001/",
        "http://[::]:9001/",
        "http://[::ffff:127.0.0.1]:9001/",
        "http://runtime.attacker.example:9001/",  # a name pointing here
    ],
)
def test_the_lambda_runtime_api_is_refused_in_every_spelling(url):
    with pytest.raises(UrlRefusedError, match=r"127\.0\.0\.1:9001 is the Lambda Runtime API"):
        check_url(url, resolve=NAMES.__getitem__, runtime_api=RUNTIME_API)


def test_numeric_spellings_the_resolver_understands_are_refused_too():
    # getaddrinfo reads 2130706433 and 0x7f.1 as 127.0.0.1, and so does the connection.
    for url in ("http://2130706433:9001/", "http://0x7f.1:9001/"):
        with pytest.raises(UrlRefusedError, match="Lambda Runtime API"):
            check_url(url, runtime_api=RUNTIME_API)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9000/page.html",  # the grading chore's page server
        "http://localhost:8080/",
        "http://127.0.0.1/",  # port 80
        "https://localhost/",  # port 443
        "http://example.com:9001/",  # the same port elsewhere
    ],
)
def test_other_ports_and_hosts_stay_reachable(url):
    check_url(url, resolve=NAMES.__getitem__, runtime_api=RUNTIME_API)


def test_without_a_runtime_api_local_ports_are_not_refused():
    check_url("http://127.0.0.1:9001/", resolve=NAMES.__getitem__)


def test_a_runtime_api_given_by_name_refuses_its_addresses():
    with pytest.raises(UrlRefusedError, match="localhost:9001 is the Lambda Runtime API"):
        check_url(
            "http://127.0.0.1:9001/",
            resolve=NAMES.__getitem__,
            runtime_api=Endpoint("localhost", 9001),
        )


def test_the_runtime_api_is_read_from_the_environment(monkeypatch):
    monkeypatch.delenv(RUNTIME_API_ENV, raising=False)
    assert runtime_api() is None
    monkeypatch.setenv(RUNTIME_API_ENV, "127.0.0.1:9001")
    assert runtime_api() == RUNTIME_API
    monkeypatch.setenv(RUNTIME_API_ENV, "[::1]:9001")
    assert runtime_api() == Endpoint("::1", 9001) and str(runtime_api()) == "[::1]:9001"
    for value in ("127.0.0.1", "localhost:", ":9001"):
        with pytest.raises(ValueError, match="host:port"):
            Endpoint.parse(value)


def test_the_word_counter_refuses_the_runtime_api_it_is_given(capsys):
    url = "http://127.0.0.1:9001/2018-06-01/runtime/invocation/next"
    assert wordcount.main(["--web-only", "--runtime-api", "127.0.0.1:9001", url]) == 1
    assert "127.0.0.1:9001 is the Lambda Runtime API" in capsys.readouterr().err
