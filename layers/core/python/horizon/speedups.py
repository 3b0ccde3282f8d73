"""The ingest core's C fast path (`layers/core/speedups/_horizon_speedups.c`), when built.

`make install` builds it for this machine and `python -m infra.bundling` for Lambda (into the
dependencies layer). It only decides the ordinary lines and columns, faster; without it the
pure-Python code runs, with the same results (`tests/unit/ingest/test_speedups.py`).

In a checkout, a module built from another version of the C source (a pull without
`make install`) is refused: it could apply older rules, or not load at all.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from types import ModuleType

# Beside the layer's `python/` folder in a checkout; not shipped to Lambda (nothing to compare).
SOURCE = Path(__file__).resolve().parents[2] / "speedups" / "_horizon_speedups.c"

logger = logging.getLogger(__name__)


def _load() -> ModuleType | None:
    try:
        import _horizon_speedups as module
    except ImportError:  # not built (no C compiler where the code was installed)
        # Said once per process: the same results, but a deploy missing it ingests ~1.7x slower.
        logger.warning("the ingest core's C fast path (_horizon_speedups) is not built")
        return None
    if SOURCE.is_file():
        # The same fingerprint as layers/core/speedups/build.py's source_hash.
        expected = hashlib.sha256(SOURCE.read_bytes()).hexdigest()[:16]
        if getattr(module, "SOURCE_HASH", None) != expected:
            logger.warning(
                "the ingest core's C fast path is a stale build (run `make install`): not used"
            )
            return None
    return module


speedups = _load()
