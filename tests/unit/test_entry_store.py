"""EntryStore: idempotent writes per line, line-ordered pages across blocks, retries."""

import pytest

from horizon.entries import BLOCK_LINES, EntryStore, InvalidLine, StoredEntry
from horizon.entries.store import decode_cursor, encode_cursor
from horizon.errors import DependencyError, InvalidRequestError


def _entries(lines):
    return [StoredEntry(line=n, entry={"timestamp": "2026-01-01T00:00:00Z", "n": n}) for n in lines]


def test_pages_follow_line_order_across_blocks_and_gaps(aws):
    store = EntryStore()
    lines = [*range(1, 40), *range(BLOCK_LINES * 2 + 5, BLOCK_LINES * 2 + 30)]
    store.put_entries("o", "j", _entries(lines))
    last_line = BLOCK_LINES * 3
    seen, after = [], 0
    while True:
        page, after = store.page_entries("o", "j", last_line, after=after, limit=17)
        seen += [entry.line for entry in page]
        if after is None:
            break
    assert seen == lines


def test_rewriting_a_line_does_not_duplicate_it(aws):
    store = EntryStore()
    store.put_entries("o", "j", _entries(range(1, 30)))
    store.put_entries("o", "j", _entries(range(1, 30)))
    page, after = store.page_entries("o", "j", 29, limit=100)
    assert [entry.line for entry in page] == list(range(1, 30))
    assert after is None


def test_owners_do_not_see_each_others_entries(aws):
    store = EntryStore()
    store.put_entries("o", "j", _entries([1]))
    assert store.page_entries("other", "j", 1)[0] == []


def test_invalid_lines_round_trip(aws):
    store = EntryStore()
    store.put_invalid("o", "j", [InvalidLine(line=3, reason="not JSON", raw="{oops")])
    page, _ = store.page_invalid("o", "j", 3)
    assert page == [InvalidLine(line=3, reason="not JSON", raw="{oops")]


class _Flaky:
    """A DynamoDB client whose BatchWriteItem leaves items unprocessed a few times."""

    def __init__(self, real, unprocessed_rounds):
        self.real = real
        self.rounds = unprocessed_rounds
        self.calls = 0

    def batch_write_item(self, RequestItems):
        self.calls += 1
        if self.rounds:
            self.rounds -= 1
            table, requests = next(iter(RequestItems.items()))
            self.real.batch_write_item(RequestItems={table: requests[:1]})
            return {"UnprocessedItems": {table: requests[1:]}}
        return self.real.batch_write_item(RequestItems=RequestItems)

    def __getattr__(self, name):
        return getattr(self.real, name)


def test_unprocessed_items_are_retried_with_backoff(aws):
    flaky = _Flaky(aws.dynamodb, unprocessed_rounds=3)
    sleeps = []
    store = EntryStore(client=flaky, sleep=sleeps.append)
    store.put_entries("o", "j", _entries(range(1, 26)))
    assert flaky.calls == 4
    assert len(sleeps) == 3
    page, _ = EntryStore().page_entries("o", "j", 25, limit=100)
    assert len(page) == 25


def test_unprocessed_forever_raises(aws):
    store = EntryStore(client=_Flaky(aws.dynamodb, unprocessed_rounds=100), sleep=lambda _: None)
    with pytest.raises(DependencyError):
        store.put_entries("o", "j", _entries(range(1, 21)))


def test_cursor_round_trip_and_rejection():
    assert decode_cursor(encode_cursor(1234)) == 1234
    assert encode_cursor(None) is None
    assert decode_cursor(None) == 0
    for bad in ("!!!", "eyJ4IjoxfQ", encode_cursor(5)[:-2] + "zz"):
        with pytest.raises(InvalidRequestError):
            decode_cursor(bad)
