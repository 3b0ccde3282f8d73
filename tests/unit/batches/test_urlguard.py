"""Which URLs batch tasks may reach."""

from __future__ import annotations

import pytest

from horizon.agent.urlguard import UrlRefusedError, check_url, forbidden_address


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
