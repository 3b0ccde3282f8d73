"""The limits of a sandboxed run: defaults, and the caps no request can go past.

Plain numbers without imports, shared by the API (validation) and `sandbox_task.contract`.
"""

from __future__ import annotations

# Shorter deadlines than this would pass while the run is still being set up.
MIN_TIMEOUT_S = 0.1
DEFAULT_TIMEOUT_S = 10.0
MAX_TIMEOUT_S = 60.0
DEFAULT_MEMORY_MB = 512
MAX_MEMORY_MB = 2048
# Per stream. The cap keeps a finished execution's answer inside Lambda's 6 MB response even
# when every byte needs a six-character JSON escape (2 streams × 256 KiB × 6 = 3 MiB).
DEFAULT_OUTPUT_BYTES = 64 * 1024
MAX_OUTPUT_BYTES = 256 * 1024
