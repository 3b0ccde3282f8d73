"""Build the Lambda dependencies layer without Docker: `python -m infra.bundling <dir>`.

pip downloads manylinux wheels for Lambda's platform (Python 3.14 on ARM64) into
`<dir>/python`, the folder a Python layer must contain. Only binary wheels are accepted, so
nothing is compiled for the build machine by mistake. The pins of `requirements.txt` and
`constraints.txt` are honoured, boto3 included: the functions run with the SDK they were
tested with, not the one the runtime happens to ship.

The layer also carries the ingest core's C fast path (`_horizon_speedups.abi3.so`),
cross-compiled for Lambda with zig by `layers/core/speedups/build.py`. The core layer ships
only Python sources (`infra.functions.CORE_LAYER_EXCLUDES`): a module built on the developer's
x86_64 machine would not load on ARM64.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parent.parent
PLATFORM = "manylinux2014_aarch64"
PYTHON_VERSION = "3.14"
SPEEDUPS_BUILDER = ROOT / "layers" / "core" / "speedups" / "build.py"
# zig's target for Lambda's ARM64: glibc 2.17 is manylinux2014's floor (PLATFORM), far below
# Amazon Linux 2023's 2.34, so the module loads wherever the wheels beside it do.
SPEEDUPS_TARGET = "aarch64-linux-gnu.2.17"


class SpeedupsBuildError(RuntimeError):
    """The C fast path could not be cross-compiled for Lambda.

    The layer build stops rather than ship without it: the functions would still work, on the
    pure-Python validator, but ingest would be ~1.7× slower, with only a warning at import to
    say so.
    """


def pip_command(target: Path, requirements: Path, constraints: Path | None) -> list[str]:
    """Return the pip command that installs `requirements` for Lambda into `target`.

    Args:
        target: the layer's `python/` folder.
        requirements: the requirements file to install.
        constraints: an optional constraints file pinning transitive packages.

    Returns:
        The argv list, starting with this interpreter.
    """
    command = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        # Bytecode compiled by this interpreter would be for the wrong Python version.
        "--no-compile",
        "--platform",
        PLATFORM,
        "--implementation",
        "cp",
        "--python-version",
        PYTHON_VERSION,
        "--only-binary=:all:",
        "--upgrade",
        "--target",
        str(target),
        "-r",
        str(requirements),
    ]
    if constraints is not None:
        command += ["-c", str(constraints)]
    return command


def load_speedups_builder() -> ModuleType:
    """Import `layers/core/speedups/build.py`, which is a script beside the C source.

    Raises:
        SpeedupsBuildError: the builder is missing.
    """
    spec = importlib.util.spec_from_file_location("_horizon_speedups_build", SPEEDUPS_BUILDER)
    if not SPEEDUPS_BUILDER.is_file() or spec is None or spec.loader is None:
        raise SpeedupsBuildError(f"the fast path's builder {SPEEDUPS_BUILDER} is missing")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def build_speedups(target: Path) -> Path:
    """Cross-compile the ingest fast path for Lambda (ARM64, glibc 2.17) into `target`.

    Args:
        target: the layer's `python/` folder, which Lambda puts on `sys.path`.

    Returns:
        The built `.abi3.so` file.

    Raises:
        SpeedupsBuildError: zig is missing or the compiler failed.
    """
    builder = load_speedups_builder()
    try:
        return builder.build(target, target=SPEEDUPS_TARGET)
    except (subprocess.CalledProcessError, FileNotFoundError) as error:
        reason = str(error).rstrip(".")
        raise SpeedupsBuildError(
            f"cross-compiling the ingest fast path (_horizon_speedups) for {SPEEDUPS_TARGET} "
            f"failed ({reason}); the compiler's own message, if any, is above. Without it "
            "ingest in Lambda would be ~1.7x slower, so no layer is built. The "
            "compiler is zig, from `ziglang` (pinned in requirements-dev.txt: `make install`)."
        ) from error


def build(layer_dir: Path, requirements: Path | None = None) -> Path:
    """(Re)build the dependencies layer in `layer_dir`: pinned wheels, then the fast path.

    Args:
        layer_dir: the layer's root; its `python/` folder is replaced.
        requirements: defaults to the project's `requirements.txt`.

    Returns:
        The layer's `python/` folder.

    Raises:
        subprocess.CalledProcessError: pip failed (e.g. a package has no wheel for the platform).
        SpeedupsBuildError: the C fast path could not be cross-compiled; `python/` is removed.
    """
    requirements = requirements or ROOT / "requirements.txt"
    constraints = ROOT / "constraints.txt"
    target = layer_dir / "python"
    # A clean folder: stale packages from an earlier pin would otherwise ship too.
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    subprocess.run(  # noqa: S603  # fixed argv built above, no shell
        pip_command(target, requirements, constraints if constraints.exists() else None),
        check=True,
    )
    try:
        build_speedups(target)
    except SpeedupsBuildError:
        # No half-built layer for `cdk deploy` to pick up: the stack refuses a missing one.
        shutil.rmtree(target, ignore_errors=True)
        raise
    return target


def main(argv: list[str]) -> int:
    """Command line entry: `python -m infra.bundling [layer_dir]`."""
    layer_dir = Path(argv[1]) if len(argv) > 1 else ROOT / "build" / "deps-layer"
    try:
        target = build(layer_dir)
    except (subprocess.CalledProcessError, SpeedupsBuildError) as error:
        print(f"building the dependencies layer failed: {error}", file=sys.stderr)
        return 1
    print(f"dependencies layer ready in {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
