import pytest

from horizon.email_jobs import template
from horizon.errors import InvalidRequestError


def test_renders_the_three_fields_by_plain_substitution():
    values = {"name": "Red Cross", "address": "1 Main St", "email": "a@b.org"}
    text = "Dear {name} at {address} ({email}), {{braces}} stay; {name} twice."
    assert template.render_text(text, values) == (
        "Dear Red Cross at 1 Main St (a@b.org), {braces} stay; Red Cross twice."
    )


def test_values_are_not_formatted_again():
    # A value that looks like a placeholder is inserted as it is.
    assert template.render_text("{name}", {"name": "{address.__class__}"}) == (
        "{address.__class__}"
    )


@pytest.mark.parametrize(
    "text",
    [
        "{name.__class__}",
        "{name.__class__.__mro__}",
        "{0}",
        "{}",
        "{name[0]}",
        "{email!r}",
        "{name:>10}",
        "{name:{address}}",
        "{secret}",
        "{__globals__}",
        "{ name }",
        "Hello {name",
        "Hello }",
    ],
)
def test_refuses_anything_but_the_known_fields(text):
    with pytest.raises(InvalidRequestError):
        template.parse(text)
