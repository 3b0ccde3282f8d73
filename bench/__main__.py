"""`make bench`: run every benchmark once, print a markdown summary and the JSON figures.

Options: `--only validation,memory,e2e,agent,analytics,executions,email`, `--sizes 50,100` (MB, memory benchmark),
`--lines 200000` (validation benchmark), `--e2e-lines 100000`.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

import bench  # noqa: F401 - puts the core layer on the path


def _markdown(results: dict[str, Any]) -> str:
    out = ["# Ingest benchmarks", ""]
    validation = results.get("validation")
    if validation:
        shipped = (
            "orjson + the C fast path"
            if validation["c_fast_path"]
            else "the C fast path NOT built: pure Python"
        )
        out += [
            "## (a) Parse and validate",
            "",
            "| approach | lines/s |",
            "|---|---|",
            f"| horizon.ingest.validate_line as shipped ({shipped}) "
            f"| {validation['fast_lines_per_s']:,} |",
            "| validate_line_python (orjson + hand-written checks in Python) "
            f"| {validation['python_lines_per_s']:,} |",
            f"| json.loads + LogEntry.model_validate | {validation['plain_lines_per_s']:,} |",
            "",
            f"Ratio **{validation['ratio']}×** (goal ≥ {validation['goal_ratio']}×; pure Python "
            f"{validation['python_ratio']}×) on {validation['lines']:,} lines; the approaches "
            f"agree on validity: "
            f"{validation['valid'] == validation['python_valid'] == validation['plain_valid']}.",
            "",
        ]
    memory = results.get("memory")
    if memory:
        out += [
            "## (b) Peak memory of one ingest (child process, moto server elsewhere)",
            "",
            "| file | lines | max RSS MB | RSS before ingest MB | seconds | lines/s |",
            "|---|---|---|---|---|---|",
        ]
        for name, report in memory.items():
            if not isinstance(report, dict):
                continue
            if "error" in report:
                out.append(f"| {name} | error: {report['error']} | | | | |")
                continue
            out.append(
                f"| {name} | {report['counts']['lines']:,} | {report['max_rss_mb']} | "
                f"{report['rss_before_ingest_mb']} | {report['seconds']} | {report['lines_per_s']:,} |"
            )
        out += ["", f"Goal: max RSS < {memory['goal_max_rss_mb']} MB, flat in the file size.", ""]
    e2e = results.get("end_to_end")
    if e2e:
        out += ["## (c) End to end through the local stack", ""]
        if "skipped" in e2e or "error" in e2e:
            out.append(f"Not measured: {e2e.get('skipped') or e2e.get('error')}")
        else:
            out.append(
                f"{e2e['lines']:,} lines ({e2e['size_bytes']:,} bytes): upload to completed in "
                f"**{e2e['seconds']} s**, {e2e['lines_per_s']:,} lines/s."
            )
        out.append("")
    if results.get("analytics"):
        from bench.analytics import markdown

        out += markdown(results["analytics"])
    if results.get("agent"):
        out += _agent_markdown(results["agent"])
    if results.get("executions"):
        from bench.executions import markdown as executions_markdown

        out += executions_markdown(results["executions"])
    if results.get("imports"):
        from bench.imports import markdown as imports_markdown

        out += imports_markdown(results["imports"])
    if results.get("identity"):
        from bench.identity import markdown as identity_markdown

        out += identity_markdown(results["identity"])
    if results.get("email_jobs"):
        from bench.email_jobs import markdown as email_markdown

        out += email_markdown(results["email_jobs"])
    if results.get("batches"):
        from bench.batches import markdown as batches_markdown

        out += batches_markdown(results["batches"])
    return "\n".join(out)


def _agent_markdown(agent: dict[str, Any]) -> list[str]:
    out = ["## (e) Agent tasks through the local stack", ""]
    failed = agent.get("error") or agent.get("latency", {}).get("error")
    if failed:
        return [*out, f"Not measured: {failed}", ""]
    latency, volume, goals = agent["latency"], agent["volume"], agent["goals"]
    return [
        *out,
        f"Print → client latency over {latency['lines']} lines: p50 "
        f"**{latency['p50_ms']} ms** (goal < {goals['p50_ms']}), p99 "
        f"**{latency['p99_ms']} ms** (goal < {goals['p99_ms']}), max {latency['max_ms']} ms.",
        "",
        f"{volume['bytes']:,} bytes in {volume['seconds']} s, complete and in order: "
        f"{volume['complete_and_in_order']}; {volume['pushes']} pushes, "
        f"**{volume['bytes_per_push']:,} bytes per push** (goal ≥ {goals['bytes_per_push']:,}).",
        "",
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "--only",
        default="validation,memory,e2e,agent,analytics,executions,identity,email,batches,imports",
    )
    parser.add_argument("--sizes", default="50,100")
    parser.add_argument("--lines", type=int, default=200_000)
    parser.add_argument("--e2e-lines", type=int, default=100_000)
    parser.add_argument("--analytics-lines", type=int, default=200_000)
    # One run per question reading every entry (~30-40 s each at 200,000 lines): the side-by-side
    # comparison; 0 skips it.
    parser.add_argument("--analytics-entry-rounds", type=int, default=1)
    args = parser.parse_args(argv)
    wanted = set(args.only.split(","))
    results: dict[str, Any] = {}
    started = time.perf_counter()
    if "validation" in wanted:
        from bench import validation

        print("running (a) validation…", file=sys.stderr, flush=True)
        results["validation"] = validation.run(args.lines)
    if "memory" in wanted:
        from bench import memory

        sizes = tuple(int(size) for size in args.sizes.split(","))
        print(f"running (b) memory at {sizes} MB…", file=sys.stderr, flush=True)
        results["memory"] = memory.run(sizes)
    if "e2e" in wanted:
        from bench import end_to_end

        print("running (c) end to end…", file=sys.stderr, flush=True)
        results["end_to_end"] = end_to_end.run(args.e2e_lines)
    if "analytics" in wanted:
        from bench import analytics

        print("running (d) analytics…", file=sys.stderr, flush=True)
        results["analytics"] = analytics.run(
            args.analytics_lines, entry_rounds=args.analytics_entry_rounds
        )
    if "agent" in wanted:
        from bench import agent

        print("running (e) agent tasks…", file=sys.stderr, flush=True)
        results["agent"] = agent.run()
    if "executions" in wanted:
        from bench import executions

        print("running (f) code execution…", file=sys.stderr, flush=True)
        results["executions"] = executions.run()
    if "imports" in wanted:
        from bench import imports

        results["imports"] = imports.run()
    if "identity" in wanted:
        from bench import identity

        results["identity"] = identity.run()
    if "email" in wanted:
        from bench import email_jobs

        print("running (g) email jobs…", file=sys.stderr, flush=True)
        results["email_jobs"] = email_jobs.run()
    if "batches" in wanted:
        from bench import batches

        print("running (i) batches…", file=sys.stderr, flush=True)
        results["batches"] = batches.run()
    results["total_seconds"] = round(time.perf_counter() - started, 1)
    print(_markdown(results))
    print("```json")
    print(json.dumps(results, indent=2))
    print("```")
    return 0


if __name__ == "__main__":
    sys.exit(main())
