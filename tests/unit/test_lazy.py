"""Collaborator: passed in wins; otherwise made once, on first use."""

from horizon.lazy import Collaborator


class _Service:
    made = 0

    @staticmethod
    def _make() -> object:
        _Service.made += 1
        return object()

    thing = Collaborator(_make)

    def __init__(self, thing: object | None = None) -> None:
        self._thing = thing


def test_passed_in_collaborator_is_used_and_nothing_is_made():
    given = object()
    _Service.made = 0
    assert _Service(given).thing is given
    assert _Service.made == 0


def test_missing_collaborator_is_made_once_on_first_use():
    _Service.made = 0
    service = _Service()
    assert _Service.made == 0
    first = service.thing
    assert service.thing is first
    assert _Service.made == 1
