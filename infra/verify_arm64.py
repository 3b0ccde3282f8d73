"""Check the Lambda build of the ingest fast path on a real ARM64 Python: `make verify-arm64`.

    python -m infra.verify_arm64 [--workdir build/arm64-check]

`infra.bundling.build_speedups` cross-compiles `_horizon_speedups` for Lambda (aarch64, glibc
2.17) on an x86_64 machine, where nothing can import it. This command runs it, without Docker
or an ARM64 machine:

1. `qemu-aarch64-static` (Debian's `qemu-user-static`, which `make verify-arm64` installs
   when missing, as `make install` does bubblewrap) runs ARM64 programs on this machine;
2. Debian bookworm's ARM64 Python 3.11 is downloaded with apt-get into the work folder (a
   private apt state: no `dpkg --add-architecture`, nothing installed) and unpacked there once;
3. the module is cross-built with `infra.bundling.build_speedups` into the work folder;
4. this very file, run as a script (`check LINES OUT`: standard library only, so Debian's bare
   Python can run it), feeds a few thousand generated lines through the module's
   `line_validator` and `add_columns` and writes what came out as JSON -- once under qemu with
   the ARM64 build, once with this machine's Python and `make install`'s x86_64 build. Both use
   `json.loads` (orjson is not in Debian's Python) and fallbacks that only record what they were
   handed, so the results must be identical; any difference is printed and the exit code is 1.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = Path(__file__).resolve()
DEFAULT_WORKDIR = ROOT / "build" / "arm64-check"
HOST_MODULE_DIR = ROOT / "layers" / "core" / "python"
MODULE_NAME = "_horizon_speedups"
MODULE_FILE = f"{MODULE_NAME}.abi3.so"
CHECK_COMMAND = "check"

QEMU = "qemu-aarch64-static"
QEMU_PACKAGE = "qemu-user-static"
DEBIAN_KEYRING = Path("/usr/share/keyrings/debian-archive-keyring.gpg")
# Bookworm whatever the host runs: its Python 3.11 is the oldest the stable ABI build supports.
DEBIAN_SOURCES = (
    ("http://deb.debian.org/debian", "bookworm bookworm-updates"),
    ("http://deb.debian.org/debian-security", "bookworm-security"),
)
# The interpreter and what it loads: found by hand (ldd of python3.11 and of the stdlib's
# json, _struct and pyexpat extension modules).
PYTHON_PACKAGES = (
    "python3.11-minimal",
    "libpython3.11-minimal",
    "libpython3.11-stdlib",
    "libc6",
    "zlib1g",
    "libexpat1",
)
GUEST_PYTHON = Path("usr/bin/python3.11")
# Written last: a root folder without it is an interrupted extraction, done again.
EXTRACTED_STAMP = ".extracted"

LINE_COUNT = 3000
# The column lists `add_columns` appends to, in its argument order.
COLUMN_NAMES = (
    "apis",
    "endpoints",
    "statuses",
    "minutes",
    "elapsed",
    "event_types",
    "event_instants",
    "error_codes",
    "code_instants",
)
# Generous bounds: a cold apt download takes ~20 s, the qemu run ~5 s.
APT_TIMEOUT_SECONDS = 300
CHECK_TIMEOUT_SECONDS = 120
DIFFERENCES_SHOWN = 10

# Shapes `bench.data` does not make: every timestamp spelling the C code reads, ones it must
# hand on, attributes of every kind, what DynamoDB cannot store, and lines that are not objects.
EDGE_LINES = (
    b'{"timestamp":"2026-11-01 10:00:00","level":"INFO"}',
    b'{"timestamp":"2026-11-01T10:00:00.123456+0200","message":"micro"}',
    b'{"timestamp":"2026-11-01T10:00:00.1-05:00","event_type":"deploy","version_id":"v1"}',
    b'{"timestamp":"2026-11-01T23:59:59.999Z","error_code":42,"region":"eu","ratio":0.5,'
    b'"ok":true,"none":null}',
    b'{"timestamp":"1969-12-31T23:59:59.999Z","event_type":"before-epoch"}',
    b'{"timestamp":"2026-11-01T10:00:00Z","attrs":{"deep":{"list":[1,2,{"x":1.5}]}}}',
    b'{"timestamp":"2026-11-01T10:00:00Z","level":null,"http_status":null}',
    b'{"timestamp":"2026-11-01","level":"INFO"}',
    b'{"timestamp":"2026-02-30T10:00:00Z"}',
    b'{"timestamp":"2026-11-01T24:00:00Z"}',
    b'{"timestamp":"2026-11-01T10:00:00+24:00"}',
    b'{"timestamp":"2026-11-01T10:00:00Z","big":1e200}',
    b'{"timestamp":"2026-11-01T10:00:00Z","tiny":1e-200}',
    b'{"timestamp":"2026-11-01T10:00:00Z","":"empty key"}',
    b'{"timestamp":"2026-11-01T10:00:00Z","response_time_ms":NaN}',
    b'{"timestamp":"2026-11-01T10:00:00Z","http_status":99}',
    b'{"timestamp":"\\ud800"}',
    b"[1,2,3]",
    b'"just a string"',
    b"\xff\xfe",
    b"",
)


class VerifyError(RuntimeError):
    """A step of the check could not run (apt, qemu, the build, a check process)."""


# -- the check itself: standard library only, it also runs under Debian's bare ARM64 Python ----


def run_check(module: ModuleType, lines: Sequence[bytes]) -> dict[str, Any]:
    """Feed `lines` through the module's `line_validator`, then the valid ones to `add_columns`.

    The fallbacks return what they were handed as the reason, so a line the C code hands on
    shows which fallback got it and with what (a parsed line must arrive unchanged).

    Args:
        module: an imported `_horizon_speedups`.
        lines: raw lines, without line breaks.

    Returns:
        Plain JSON data: per line `[entry, reason]`, the columns, whether an entry is an anchor,
        and how many lines were handed on.
    """
    handed_on = 0

    def on_data(data: Any) -> tuple[None, str]:
        nonlocal handed_on
        handed_on += 1
        return None, f"validate_data({json.dumps(data)})"

    def on_line(raw: bytes) -> tuple[None, str]:
        nonlocal handed_on
        handed_on += 1
        return None, f"validate_line({raw!r})"

    validate: Callable[[bytes], tuple[Any, Any]] = module.line_validator(
        json.loads, on_data, on_line
    )
    results = [list(validate(raw)) for raw in lines]
    numbered = [
        (number, entry) for number, (entry, _) in enumerate(results, 1) if entry is not None
    ]
    columns: tuple[list[Any], ...] = tuple([] for _ in COLUMN_NAMES)
    has_anchors = module.add_columns(numbered, *columns)
    return {
        "machine": platform.machine(),
        "python": platform.python_version(),
        "source_hash": module.SOURCE_HASH,
        "lines": len(lines),
        "handed_on": handed_on,
        "results": results,
        "columns": dict(zip(COLUMN_NAMES, columns, strict=True)),
        "has_anchors": has_anchors,
    }


def read_lines(path: Path) -> list[bytes]:
    """The lines of a file written by `write_lines` (one per line, the last one ends it)."""
    return path.read_bytes().split(b"\n")[:-1]


def check_main(argv: Sequence[str]) -> int:
    """`verify_arm64.py check LINES OUT`: run the check with the `_horizon_speedups` on the path."""
    lines_file, out_file = (Path(arg) for arg in argv)
    started = time.monotonic()
    module = importlib.import_module(MODULE_NAME)
    result = run_check(module, read_lines(lines_file))
    result["seconds"] = round(time.monotonic() - started, 3)
    out_file.write_text(json.dumps(result))
    return 0


# -- comparing and reporting ---------------------------------------------------------------------


def _canonical(value: Any) -> str:
    # Text, not objects: NaN is not equal to itself, and key order is part of the contract.
    return json.dumps(value)


def _what_differs(left: list[Any], right: list[Any]) -> tuple[str, str]:
    """Two `[entry, reason]` results as text, cut down to the fields that differ when both
    are entries with the same keys in the same order (a whole log line is long to read)."""
    left_entry, right_entry = left[0], right[0]
    if isinstance(left_entry, dict) and isinstance(right_entry, dict):
        if list(left_entry) == list(right_entry):
            fields = [
                key
                for key in left_entry
                if _canonical(left_entry[key]) != _canonical(right_entry[key])
            ]
            return (
                _canonical({key: left_entry[key] for key in fields}),
                _canonical({key: right_entry[key] for key in fields}),
            )
        return f"keys {_canonical(list(left_entry))}", f"keys {_canonical(list(right_entry))}"
    return _canonical(left), _canonical(right)


def compare_results(arm64: dict[str, Any], host: dict[str, Any]) -> list[str]:
    """Return the differences between two `run_check` results (empty when identical).

    Where they ran and how long they took are not compared; everything the module produced is.
    """
    differences = []
    if arm64["source_hash"] != host["source_hash"]:
        differences.append(
            f"source_hash: {arm64['machine']} {arm64['source_hash']}, {host['machine']} "
            f"{host['source_hash']} (a stale build: run `make install`)"
        )
    if len(arm64["results"]) != len(host["results"]):
        differences.append(
            f"lines: {arm64['machine']} {len(arm64['results'])}, "
            f"{host['machine']} {len(host['results'])}"
        )
    # A difference in length is reported above; the common lines are still compared.
    pairs = zip(arm64["results"], host["results"], strict=False)
    for number, (left, right) in enumerate(pairs, 1):
        if _canonical(left) != _canonical(right):
            left_text, right_text = _what_differs(left, right)
            differences.append(
                f"line {number}: {arm64['machine']} {left_text}, {host['machine']} {right_text}"
            )
    for name in COLUMN_NAMES:
        left, right = arm64["columns"][name], host["columns"][name]
        if _canonical(left) != _canonical(right):
            differences.append(f"column {name}: {arm64['machine']} and {host['machine']} differ")
    for field in ("has_anchors", "handed_on"):
        if arm64[field] != host[field]:
            differences.append(
                f"{field}: {arm64['machine']} {arm64[field]}, {host['machine']} {host[field]}"
            )
    return differences


def summary(arm64: dict[str, Any], host: dict[str, Any], seconds: float) -> str:
    """The one-line report of a passed check: lines, how the C code took them, total time."""
    decided = arm64["lines"] - arm64["handed_on"]
    return (
        f"arm64 check passed: {arm64['lines']} lines identical on {arm64['machine']} and "
        f"{host['machine']} ({decided} decided in C, {arm64['handed_on']} handed on) "
        f"in {seconds:.1f} s"
    )


# -- the host's steps ------------------------------------------------------------------------------


def sources_list(keyring: Path | None) -> str:
    """apt's one-line sources for Debian bookworm's ARM64 packages."""
    options = "arch=arm64" + (f" signed-by={keyring}" if keyring else "")
    return "".join(
        f"deb [{options}] {uri} {suite} main\n"
        for uri, suites in DEBIAN_SOURCES
        for suite in suites.split()
    )


def apt_options(apt_dir: Path, as_root: bool) -> list[str]:
    """apt-get options for a private ARM64 apt state under `apt_dir`.

    The host's package database is never read or written (`status` is /dev/null), so nothing
    is installed and no foreign architecture is added.
    """
    options = {
        "APT::Architecture": "arm64",
        "APT::Architectures::": "arm64",
        "Dir::Etc::SourceList": str(apt_dir / "sources.list"),
        "Dir::Etc::SourceParts": str(apt_dir / "sources.list.d"),
        "Dir::State::Lists": str(apt_dir / "lists"),
        "Dir::State::status": "/dev/null",
        "Dir::Cache": str(apt_dir / "cache"),
    }
    if as_root:
        # As root apt drops to the `_apt` user to download, which on some machines cannot
        # resolve hosts or write the private folders.
        options["APT::Sandbox::User"] = "root"
    return [argument for key, value in options.items() for argument in ("-o", f"{key}={value}")]


def apt_commands(apt_dir: Path, as_root: bool) -> tuple[list[str], list[str]]:
    """The `apt-get update` and `apt-get download` commands for Debian's ARM64 Python."""
    options = apt_options(apt_dir, as_root)
    return (
        ["apt-get", "-qq", "--error-on=any", *options, "update"],
        ["apt-get", "-qq", *options, "download", *PYTHON_PACKAGES],
    )


def guest_interpreter(root: Path, qemu: str = QEMU) -> list[str]:
    """The command prefix that runs Debian's ARM64 Python (unpacked in `root`) under qemu.

    `-L` makes qemu look up the interpreter's loader and libraries in `root`, not the host's.
    """
    return [qemu, "-L", str(root), str(root / GUEST_PYTHON)]


def check_command(interpreter: Sequence[str], lines_file: Path, out_file: Path) -> list[str]:
    """The command that runs this file's check with `interpreter`.

    `-S`: no site packages, only the standard library and PYTHONPATH, on both sides. `-P`: the
    script's folder (infra/, whose modules could shadow the standard library's) is not put on
    the path.
    """
    return [*interpreter, "-S", "-P", str(SCRIPT), CHECK_COMMAND, str(lines_file), str(out_file)]


def _run(command: Sequence[str], what: str, timeout: float, **options: Any) -> None:
    """Run `command`; a failure becomes a VerifyError that says `what` failed and why."""
    try:
        completed = subprocess.run(  # noqa: S603  # argv built in this module, no shell
            command, capture_output=True, text=True, timeout=timeout, check=False, **options
        )
    except FileNotFoundError as error:
        raise VerifyError(f"{what} failed: {error.filename} is not installed") from error
    except subprocess.TimeoutExpired as error:
        raise VerifyError(f"{what} did not finish in {timeout:.0f} s: {command[0]}") from error
    if completed.returncode != 0:
        output = (completed.stderr or completed.stdout).strip()[-2000:]
        raise VerifyError(
            f"{what} failed (exit {completed.returncode}): {' '.join(command)}\n{output}"
        )


def find_qemu() -> str:
    """Return the path of `qemu-aarch64-static` (the Makefile installs it)."""
    found = shutil.which(QEMU)
    if not found:
        raise VerifyError(
            f"{QEMU} is not installed: `make verify-arm64` installs {QEMU_PACKAGE} "
            f"(or `apt-get install {QEMU_PACKAGE}`)"
        )
    return found


def fetch_python(workdir: Path) -> Path:
    """Download and unpack Debian's ARM64 Python into `workdir/root` (once); return the root."""
    root = workdir / "root"
    stamp = root / EXTRACTED_STAMP
    if stamp.is_file() and stamp.read_text() == " ".join(PYTHON_PACKAGES):
        return root
    apt_dir, debs = workdir / "apt", workdir / "debs"
    for folder in (apt_dir / "lists" / "partial", apt_dir / "cache", apt_dir / "sources.list.d"):
        folder.mkdir(parents=True, exist_ok=True)
    (apt_dir / "sources.list").write_text(
        sources_list(DEBIAN_KEYRING if DEBIAN_KEYRING.is_file() else None)
    )
    shutil.rmtree(debs, ignore_errors=True)  # one version of each package, the current one
    debs.mkdir(parents=True)
    update, download = apt_commands(apt_dir, as_root=os.geteuid() == 0)
    _run(update, "apt-get update (Debian bookworm, arm64)", APT_TIMEOUT_SECONDS)
    _run(download, "apt-get download of the ARM64 Python", APT_TIMEOUT_SECONDS, cwd=debs)
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    for package in sorted(debs.glob("*.deb")):
        _run(["dpkg-deb", "-x", str(package), str(root)], f"unpacking {package.name}", 60)
    if not (root / GUEST_PYTHON).is_file():
        raise VerifyError(f"the downloaded packages hold no {GUEST_PYTHON}")
    stamp.write_text(" ".join(PYTHON_PACKAGES))
    return root


def write_lines(path: Path, count: int = LINE_COUNT) -> int:
    """Write `count` generated lines (`bench.data`, ~10% invalid) and `EDGE_LINES`; return
    how many lines the file holds."""
    from bench.data import lines  # host only: it needs orjson, which the guest has not

    generated = [*lines(count), *EDGE_LINES]
    path.write_bytes(b"".join(line + b"\n" for line in generated))
    return len(generated)


def run_side(interpreter: Sequence[str], module_dir: Path, lines_file: Path, out: Path) -> dict:
    """Run the check with `interpreter` and the module in `module_dir`; return its result."""
    environment = {**os.environ, "PYTHONPATH": str(module_dir), "PYTHONDONTWRITEBYTECODE": "1"}
    what = f"the check with {Path(interpreter[-1]).name} and {module_dir / MODULE_FILE}"
    _run(check_command(interpreter, lines_file, out), what, CHECK_TIMEOUT_SECONDS, env=environment)
    return json.loads(out.read_text())


def verify(workdir: Path) -> tuple[list[str], str]:
    """Run every step; return the differences (empty when identical) and the summary line."""
    from infra.bundling import SpeedupsBuildError, build_speedups  # host only (not stdlib)

    started = time.monotonic()
    if not (HOST_MODULE_DIR / MODULE_FILE).is_file():
        raise VerifyError(
            f"the x86_64 build {HOST_MODULE_DIR / MODULE_FILE} is missing: run `make install`"
        )
    qemu = find_qemu()
    root = fetch_python(workdir)
    try:
        build_speedups(workdir / "module")
    except SpeedupsBuildError as error:
        raise VerifyError(str(error)) from error
    lines_file = workdir / "lines.jsonl"
    write_lines(lines_file)
    arm64 = run_side(
        guest_interpreter(root, qemu), workdir / "module", lines_file, workdir / "arm64.json"
    )
    host = run_side([sys.executable], HOST_MODULE_DIR, lines_file, workdir / "x86_64.json")
    return compare_results(arm64, host), summary(arm64, host, time.monotonic() - started)


def main(argv: Sequence[str] | None = None) -> int:
    """Command line entry; see the module docstring."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == [CHECK_COMMAND]:
        return check_main(argv[1:])
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR)
    args = parser.parse_args(argv)
    try:
        differences, line = verify(args.workdir.resolve())
    except VerifyError as error:
        print(f"arm64 check could not run: {error}", file=sys.stderr)
        return 1
    if differences:
        shown = differences[:DIFFERENCES_SHOWN]
        more = len(differences) - len(shown)
        print("arm64 check FAILED: the ARM64 build differs from the x86_64 one", file=sys.stderr)
        print("\n".join(shown) + (f"\n... and {more} more" if more else ""), file=sys.stderr)
        return 1
    print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
