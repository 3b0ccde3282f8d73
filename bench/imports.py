"""(i) Each Lambda handler's cold import time: what an instance spends importing before it
can answer its first event.

Each handler (`wiring.FUNCTIONS`) is imported in a fresh `python -c` (the same layer paths a
Lambda has), RUNS times, handlers interleaved so a slow phase of the machine spreads over all
of them; the figure is the median of the import alone, timed inside the child. With
`--against DIR` (a checkout of another revision) each import is also timed there, in turn
with this tree's, for a before/after side by side.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RUNS = 7
_CHILD = """
import sys, time
sys.path[:0] = [{root!r}, {layer!r}]
started = time.perf_counter()
import {module}
print((time.perf_counter() - started) * 1000)
"""


def handler_modules() -> dict[str, str]:
    """Function key → its handler's module, from the wiring."""
    sys.path.insert(0, str(ROOT / "layers/core/python"))
    from horizon import wiring

    return {spec.key: spec.handler.rsplit(".", 1)[0] for spec in wiring.FUNCTIONS}


def _import_ms(root: Path, module: str) -> float:
    code = _CHILD.format(root=str(root), layer=str(root / "layers/core/python"), module=module)
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root
    )
    return float(result.stdout.strip().splitlines()[-1])


def run(runs: int = RUNS, against: Path | None = None) -> dict[str, Any]:
    modules = handler_modules()
    roots = {"now": ROOT, **({"before": against} if against else {})}
    samples: dict[str, dict[str, list[float]]] = {name: {k: [] for k in modules} for name in roots}
    for _ in range(runs):
        for key, module in modules.items():
            for name, root in roots.items():
                samples[name][key].append(_import_ms(root, module))
    return {
        "runs": runs,
        "median_ms": {
            name: {key: round(statistics.median(values), 1) for key, values in by_key.items()}
            for name, by_key in samples.items()
        },
    }


def markdown(result: dict[str, Any]) -> list[str]:
    medians = result["median_ms"]
    before = medians.get("before")
    head = (
        "| handler | import ms, before | import ms, now |" if before else "| handler | import ms |"
    )
    out = ["## (i) Cold import time of each Lambda handler", "", head]
    out.append("|---|---|---|" if before else "|---|---|")
    for key, now in sorted(medians["now"].items(), key=lambda item: -item[1]):
        out.append(f"| {key} | {before[key]} | {now} |" if before else f"| {key} | {now} |")
    out += ["", f"Median of {result['runs']} fresh processes each.", ""]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=RUNS)
    parser.add_argument("--against", type=Path, help="a checkout of the revision to compare")
    args = parser.parse_args()
    result = run(args.runs, args.against)
    print("\n".join(markdown(result)))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
