"""A REST request costs one DynamoDB write once its instance knows the key; a revoked key is
refused on its next request all the same, by every instance."""

from __future__ import annotations

import pytest

from horizon.identity import IdentityService
from horizon.identity import service as identity_service
from horizon.identity.models import KeyCreate
from horizon.identity.store import KeyStore
from horizon.ratelimit import RateLimiter
from horizon.tenancy import UnauthorizedError
from tests.unit.test_ratelimit import Clock, CountingClient


@pytest.fixture
def calls(aws):
    """One instance's service, its DynamoDB calls counted."""
    client = CountingClient(aws.dynamodb)
    service = IdentityService(store=KeyStore(client=client), limiter=RateLimiter(client=client))
    return service, client.calls


def _request(service: IdentityService, key: str) -> None:
    service.count_request(service.authenticate(key, counted_next=True))


def test_once_an_instance_knows_a_key_a_request_is_one_write(calls):
    service, made = calls
    key = service.create_key(KeyCreate(tenant="acme", tier="pro")).key
    made.clear()
    _request(service, key)
    # The key read, the request counted; it opened the key's day, so the key is read again
    # (once a day for the whole platform, not per instance).
    assert made == ["get_item", "update_item", "get_item"]
    made.clear()
    for _ in range(5):
        _request(service, key)
    assert made == ["update_item"] * 5


def test_a_key_revoked_elsewhere_is_refused_by_an_instance_that_still_knows_it(calls):
    service, _ = calls
    key = service.create_key(KeyCreate(tenant="acme", tier="free")).key
    _request(service, key)
    known = identity_service._known_keys.get(key.split("_")[1])
    IdentityService().revoke_key(key.split("_")[1])
    # This instance still holds its copy, as another Lambda instance would.
    identity_service._known_keys.keep(key.split("_")[1], known)
    with pytest.raises(UnauthorizedError):
        _request(service, key)
    with pytest.raises(UnauthorizedError):  # and the copy is gone: the record says revoked
        _request(service, key)


def test_the_first_request_of_a_day_past_the_block_reads_the_key_again(aws):
    clock = Clock(86_400 * 100 + 10.0)
    service = IdentityService(limiter=RateLimiter(clock=clock))
    created = service.create_key(KeyCreate(tenant="acme", tier="enterprise"))
    _request(service, created.key)
    known = identity_service._known_keys.get(created.key_id)
    service.revoke_key(created.key_id)
    identity_service._known_keys.keep(created.key_id, known)
    clock.now += 3 * 86_400  # beyond the days the revocation blocked
    with pytest.raises(UnauthorizedError):
        _request(service, created.key)


def test_a_websocket_connect_reads_the_key_every_time(calls):
    service, made = calls
    key = service.create_key(KeyCreate(tenant="acme", tier="pro")).key
    service.authenticate(key)
    made.clear()
    service.authenticate(key)
    assert made == ["get_item"]
