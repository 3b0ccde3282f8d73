import pytest

from horizon.email_jobs.addresses import domain_of, is_domain, normalize
from horizon.errors import InvalidRequestError


def test_the_domain_is_lower_cased_and_the_local_part_kept():
    assert normalize("  Jane.Doe+news@Example.ORG ") == "Jane.Doe+news@example.org"
    assert domain_of("Jane@example.org") == "example.org"


@pytest.mark.parametrize(
    "address",
    [
        "",
        "plain",
        "@example.org",
        "a@",
        "a@localhost",
        "a@@example.org",
        "a..b@example.org",
        ".a@example.org",
        "a b@example.org",
        '"quoted"@example.org',
        "a@-bad.org",
        "a@bad-.org",
        "a@example.123",
        "a@[127.0.0.1]",
        "é@example.org",
        "a@exa mple.org",
        "a\n@example.org",
        "x" * 65 + "@example.org",
        "a@" + "b" * 64 + ".org",
        "a@example.org\r\nBcc: victim@example.com",
    ],
)
def test_refuses_what_mail_systems_may_not_accept(address):
    with pytest.raises(InvalidRequestError):
        normalize(address)


def test_domains():
    assert is_domain("example.org")
    assert is_domain("mail.xn--bcher-kva.example")
    assert not is_domain("org")
    assert not is_domain("exa_mple.org")
