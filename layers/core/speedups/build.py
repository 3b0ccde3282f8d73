"""Compile the ingest core's C fast path (`_horizon_speedups.c`) into an importable module.

    python layers/core/speedups/build.py OUT_DIR                 # for this machine (cc)
    python layers/core/speedups/build.py OUT_DIR --target aarch64-linux-gnu.2.17   # with zig

The module uses only Python's stable ABI (3.11 and newer), so one `.abi3.so` serves every
Python from 3.11 on: the local one, built with the machine's C compiler by `make install`, and
Lambda's (Python 3.14 on ARM64), cross-compiled with zig (`ziglang` from PyPI: no Docker, no
ARM64 machine) by `python -m infra.bundling` into the dependencies layer. Without the module
the pure-Python validator runs, with the same results (`horizon.ingest.validator`).
"""

from __future__ import annotations

import argparse
import hashlib
import subprocess
import sys
import sysconfig
from pathlib import Path

SOURCE = Path(__file__).resolve().parent / "_horizon_speedups.c"
MODULE_FILE = "_horizon_speedups.abi3.so"
FLAGS = ["-O2", "-shared", "-fPIC", "-Wall", "-fvisibility=hidden"]
# Warnings are errors only with the pinned zig: a developer's newer cc with a new warning must
# not leave them on the pure-Python path.
CROSS_FLAGS = ["-Werror"]


def source_hash(source: Path = SOURCE) -> str:
    """The C source's fingerprint, compiled into the module as SOURCE_HASH: `horizon.speedups`
    refuses a module built from another version of the source (a stale build)."""
    return hashlib.sha256(source.read_bytes()).hexdigest()[:16]


def compile_command(output: Path, target: str | None = None) -> list[str]:
    """Return the compiler command that builds the module into `output`.

    Args:
        output: the `.abi3.so` file to write.
        target: a zig target triple with a glibc version (e.g. `aarch64-linux-gnu.2.17`) to
            cross-compile with zig; None builds for this machine with `cc`.
    """
    # The stable ABI's declarations are the same on every 64-bit Linux: this Python's headers
    # serve a cross build too.
    include = sysconfig.get_paths()["include"]
    if target:
        compiler = [sys.executable, "-m", "ziglang", "cc", "-target", target, *CROSS_FLAGS]
    else:
        compiler = ["cc"]
    version = f'-DHORIZON_SPEEDUPS_SOURCE="{source_hash()}"'
    return [*compiler, *FLAGS, version, f"-I{include}", str(SOURCE), "-o", str(output)]


def build(out_dir: Path, target: str | None = None) -> Path:
    """Compile the module into `out_dir`; return its path.

    Raises:
        subprocess.CalledProcessError: the compiler failed.
        FileNotFoundError: there is no compiler (`cc`, or zig for a cross build), or no
            Python headers (Debian: the python3-dev package).
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    output = out_dir / MODULE_FILE
    # An earlier build must not outlive a failed one: Python would import the stale module.
    output.unlink(missing_ok=True)
    headers = Path(sysconfig.get_paths()["include"]) / "Python.h"
    if not headers.is_file():
        raise FileNotFoundError(f"Python's headers are missing ({headers}): install python3-dev")
    partial = output.with_suffix(".partial")
    try:
        subprocess.run(compile_command(partial, target), check=True)  # noqa: S603  # fixed argv
        partial.replace(output)  # never a half-written module where Python would import it
    finally:
        partial.unlink(missing_ok=True)  # what a failed compiler run may leave behind
    return output


def main(argv: list[str] | None = None) -> int:
    """Command line entry; see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--target", help="zig target, e.g. aarch64-linux-gnu.2.17")
    args = parser.parse_args(argv)
    try:
        output = build(args.out_dir, args.target)
    except (subprocess.CalledProcessError, FileNotFoundError) as error:
        print(f"building {SOURCE.name} failed: {error}", file=sys.stderr)
        return 1
    print(f"built {output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
