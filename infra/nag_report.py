"""Print cdk-nag's outcome after a synth: unacknowledged findings (synth fails on any) and
every acknowledged one with its reason, read from the synthesized templates.

Run by `make synth` after `app.py`; also usable as `python -m infra.nag_report [cdk.out]`.
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path


def acknowledged(template: dict) -> dict[str, list[tuple[str, str]]]:
    """Return rule id → [(logical id, reason)] from a template's cdk_nag metadata."""
    found: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for logical_id, resource in template.get("Resources", {}).items():
        for rule in resource.get("Metadata", {}).get("cdk_nag", {}).get("rules_to_suppress", []):
            found[rule["id"]].append((logical_id, rule.get("reason", "")))
    return found


def report(outdir: Path) -> str:
    """Return the report for every template and the validation report in `outdir`."""
    lines = ["cdk-nag AwsSolutions report"]
    validation = json.loads((outdir / "validation-report.json").read_text())
    failing = [
        violation
        for plugin in validation.get("pluginReports", [])
        for violation in plugin.get("violations", [])
    ]
    lines.append(f"  unacknowledged findings: {len(failing)}")
    for path in sorted(outdir.glob("*.template.json")):
        rules = acknowledged(json.loads(path.read_text()))
        total = sum(len(places) for places in rules.values())
        lines.append(f"  {path.name}: {total} acknowledged findings in {len(rules)} rules")
        for rule, places in sorted(rules.items()):
            reasons = sorted({reason for _, reason in places})
            lines.append(f"    {rule} ({len(places)}×): {' / '.join(reasons)}")
    return "\n".join(lines)


if __name__ == "__main__":
    print(report(Path(sys.argv[1] if len(sys.argv) > 1 else "cdk.out")))
