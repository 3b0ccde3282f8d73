"""Benchmarks of the ingest path (`make bench` = `python -m bench`); never part of the tests.

- `validation`: lines/s of the fast validator vs. json.loads + pydantic `LogEntry`.
- `memory`: peak RSS of ingesting a 50 MB and a 100 MB file against a moto server.
- `end_to_end`: a 100,000-line upload through the local stack, REST to completed job.
"""

import sys
from pathlib import Path

# Lambda puts the core layer on the path; do the same, wherever the benchmark is started.
_ROOT = Path(__file__).resolve().parent.parent
for _path in (_ROOT / "layers" / "core" / "python", _ROOT):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))
