"""Build the Lambda dependencies layer without Docker: `python -m infra.bundling <dir>`.

pip downloads manylinux wheels for Lambda's platform (Python 3.14 on ARM64) into
`<dir>/python`, the folder a Python layer must contain. Only binary wheels are accepted, so
nothing is compiled for the build machine by mistake. The pins of `requirements.txt` and
`constraints.txt` are honoured, boto3 included: the functions run with the SDK they were
tested with, not the one the runtime happens to ship.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PLATFORM = "manylinux2014_aarch64"
PYTHON_VERSION = "3.14"


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


def build(layer_dir: Path, requirements: Path | None = None) -> Path:
    """(Re)build the dependencies layer in `layer_dir`.

    Args:
        layer_dir: the layer's root; its `python/` folder is replaced.
        requirements: defaults to the project's `requirements.txt`.

    Returns:
        The layer's `python/` folder.

    Raises:
        subprocess.CalledProcessError: pip failed (e.g. a package has no wheel for the platform).
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
    return target


def main(argv: list[str]) -> int:
    """Command line entry: `python -m infra.bundling [layer_dir]`."""
    layer_dir = Path(argv[1]) if len(argv) > 1 else ROOT / "build" / "deps-layer"
    try:
        target = build(layer_dir)
    except subprocess.CalledProcessError as error:
        print(f"building the dependencies layer failed: {error}", file=sys.stderr)
        return 1
    print(f"dependencies layer ready in {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
