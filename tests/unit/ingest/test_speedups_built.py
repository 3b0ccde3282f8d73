"""The C fast path is built where it can be, and a build of another source is refused.

Apart from `test_speedups.py`, whose tests are skipped without the module: these must fail
when `make install` left no module on a machine with a C compiler.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from horizon import speedups as loader
from horizon.ingest import validator
from horizon.ingest.validator import validate_line_python


def test_the_fast_path_is_built_where_there_is_a_compiler() -> None:
    """`make install` builds it; on a machine with a C compiler a missing module is a bug."""
    if shutil.which("cc") is None:
        pytest.skip("no C compiler here")
    assert loader.speedups is not None
    assert validator.validate_line is not validate_line_python


def test_a_build_of_another_source_is_refused(tmp_path: Path, monkeypatch, caplog) -> None:
    if loader.speedups is None:
        pytest.skip("the C fast path is not built")
    assert loader.SOURCE.is_file()
    assert loader._load() is loader.speedups  # built from this checkout's source
    changed = tmp_path / "_horizon_speedups.c"
    changed.write_bytes(loader.SOURCE.read_bytes() + b"\n/* changed */\n")
    monkeypatch.setattr(loader, "SOURCE", changed)
    assert loader._load() is None
    assert "stale build" in caplog.text
    # Where the source is not shipped (Lambda's layers), there is nothing to compare.
    monkeypatch.setattr(loader, "SOURCE", tmp_path / "absent.c")
    assert loader._load() is loader.speedups
