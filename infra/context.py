"""The app's context (feature flags) from cdk.json, for runs without the CDK CLI.

The CLI passes cdk.json's context to `app.py`; `python app.py` and the tests do not go
through the CLI, so they read the same file to synthesize the same template.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

CDK_JSON = Path(__file__).resolve().parent.parent / "cdk.json"


def load_context(path: Path = CDK_JSON) -> dict[str, Any]:
    """Return the `context` object of cdk.json.

    Args:
        path: the cdk.json to read.

    Returns:
        Context key → value (empty when the file has none).

    Raises:
        OSError: the file cannot be read.
        ValueError: it is not valid JSON.
    """
    return dict(json.loads(path.read_text(encoding="utf-8")).get("context", {}))
