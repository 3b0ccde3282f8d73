"""The ingest core's C fast path (`layers/core/speedups/_horizon_speedups.c`), when built.

`make install` builds it for this machine and `python -m infra.bundling` for Lambda (into the
dependencies layer). It only decides the ordinary lines and columns, faster; without it the
pure-Python code runs, with the same results (`tests/unit/ingest/test_speedups.py`).
"""

from __future__ import annotations

import logging
from types import ModuleType

speedups: ModuleType | None
try:
    import _horizon_speedups as speedups
except ImportError:  # not built (no C compiler where the code was installed)
    speedups = None
    # Said once per process: the same results, but a deploy missing it ingests ~1.7x slower.
    logging.getLogger(__name__).warning(
        "the ingest core's C fast path (_horizon_speedups) is not built: pure Python runs"
    )
