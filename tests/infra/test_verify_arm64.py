"""The pieces of `make verify-arm64` (`infra.verify_arm64`), with no network and no qemu.

The commands it would run (apt-get, qemu) are checked as argument lists; the check script runs
for real, but with this machine's Python and `make install`'s build of the module; the
comparison gets two result files that differ in one line.
"""

from __future__ import annotations

import json
import platform
import sys
from pathlib import Path
from typing import Any

import pytest

from infra import verify_arm64
from infra.verify_arm64 import (
    COLUMN_NAMES,
    EDGE_LINES,
    PYTHON_PACKAGES,
    VerifyError,
    apt_commands,
    check_command,
    compare_results,
    guest_interpreter,
    run_check,
    run_side,
    sources_list,
    summary,
)

HOST_MODULE = verify_arm64.HOST_MODULE_DIR / verify_arm64.MODULE_FILE
needs_host_build = pytest.mark.skipif(
    not HOST_MODULE.is_file(), reason="the x86_64 fast path is not built (`make install`)"
)


def _options(command: list[str]) -> dict[str, str]:
    """apt-get's `-o KEY=VALUE` options of a command, as a dict."""
    pairs = [command[i + 1] for i, argument in enumerate(command) if argument == "-o"]
    return dict(pair.split("=", 1) for pair in pairs)


class FakeSpeedups:
    """Stands in for `_horizon_speedups`: decides lines whose timestamp ends in "Z", hands the
    other parsed ones to `validate_data` and unparsable ones to `validate_line`."""

    SOURCE_HASH = "0123456789abcdef"

    @staticmethod
    def line_validator(loads: Any, validate_data: Any, validate_line: Any) -> Any:
        def validate(raw: bytes) -> tuple[Any, Any]:
            try:
                data = loads(raw)
            except ValueError:
                return validate_line(raw)
            if isinstance(data, dict) and str(data.get("timestamp", "")).endswith("Z"):
                return {**data, "timestamp_ms": 60_000}, None
            return validate_data(data)

        return validate

    @staticmethod
    def add_columns(numbered: list[tuple[int, dict]], *columns: list[Any]) -> bool:
        for _, entry in numbered:
            columns[0].append(entry.get("api_id"))
            columns[3].append(entry["timestamp_ms"] // 60_000)
        return any("version_id" in entry for _, entry in numbered)


FAKE_LINES = [
    b'{"timestamp":"2026-11-01T10:00:00Z","api_id":"a"}',
    b'{"timestamp":"2026-11-01T10:00:00+02:00"}',
    b"not json",
    b'{"timestamp":"2026-11-01T10:00:00Z","version_id":"v1","ratio":NaN}',
]


def test_apt_commands_use_a_private_arm64_state(tmp_path: Path) -> None:
    update, download = apt_commands(tmp_path, as_root=True)

    assert update[0] == "apt-get"
    assert update[-1] == "update"
    # A mirror that cannot be reached must fail the update, not the download after it.
    assert "--error-on=any" in update
    assert download[-len(PYTHON_PACKAGES) - 1 :] == ["download", *PYTHON_PACKAGES]
    options = _options(update)
    assert options == _options(download)
    assert options["APT::Architecture"] == "arm64"
    assert options["APT::Architectures::"] == "arm64"
    # Never the host's package database: nothing is installed, no architecture added.
    assert options["Dir::State::status"] == "/dev/null"
    assert options["Dir::State::Lists"] == str(tmp_path / "lists")
    assert options["Dir::Cache"] == str(tmp_path / "cache")
    assert options["Dir::Etc::SourceList"] == str(tmp_path / "sources.list")
    assert options["APT::Sandbox::User"] == "root"


def test_apt_commands_keep_the_sandbox_user_when_not_root(tmp_path: Path) -> None:
    update, download = apt_commands(tmp_path, as_root=False)

    assert "APT::Sandbox::User" not in _options(update)
    assert "APT::Sandbox::User" not in _options(download)


def test_sources_list_names_bookworm_arm64_and_the_keyring() -> None:
    keyring = Path("/usr/share/keyrings/debian-archive-keyring.gpg")

    lines = sources_list(keyring).splitlines()

    assert lines == [
        f"deb [arch=arm64 signed-by={keyring}] http://deb.debian.org/debian bookworm main",
        f"deb [arch=arm64 signed-by={keyring}] http://deb.debian.org/debian bookworm-updates main",
        f"deb [arch=arm64 signed-by={keyring}] http://deb.debian.org/debian-security "
        "bookworm-security main",
    ]
    assert "signed-by" not in sources_list(None)


def test_a_missing_qemu_names_the_package_and_the_make_target(monkeypatch) -> None:
    monkeypatch.setattr(verify_arm64.shutil, "which", lambda name: None)
    with pytest.raises(VerifyError, match="qemu-user-static") as failure:
        verify_arm64.find_qemu()
    assert "make verify-arm64" in str(failure.value)


def test_the_guest_runs_this_same_script_under_qemu(tmp_path: Path) -> None:
    root = tmp_path / "root"

    command = check_command(
        guest_interpreter(root, "/usr/bin/qemu-aarch64-static"), Path("in"), Path("out")
    )

    assert command == [
        "/usr/bin/qemu-aarch64-static",
        "-L",
        str(root),
        str(root / "usr/bin/python3.11"),
        "-S",
        "-P",
        str(Path(verify_arm64.__file__).resolve()),
        "check",
        "in",
        "out",
    ]


def test_an_extracted_python_is_not_downloaded_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (root / verify_arm64.EXTRACTED_STAMP).write_text(" ".join(PYTHON_PACKAGES))

    def no_commands(*args: Any, **kwargs: Any) -> None:
        raise AssertionError(f"ran {args}")

    monkeypatch.setattr(verify_arm64.subprocess, "run", no_commands)

    assert verify_arm64.fetch_python(tmp_path) == root


def test_run_check_records_what_is_handed_on() -> None:
    result = run_check(FakeSpeedups, FAKE_LINES)

    assert result["lines"] == 4
    assert result["handed_on"] == 2
    assert result["source_hash"] == FakeSpeedups.SOURCE_HASH
    assert result["results"][0] == [
        {"timestamp": "2026-11-01T10:00:00Z", "api_id": "a", "timestamp_ms": 60_000},
        None,
    ]
    assert result["results"][1] == [
        None,
        'validate_data({"timestamp": "2026-11-01T10:00:00+02:00"})',
    ]
    assert result["results"][2] == [None, "validate_line(b'not json')"]
    assert list(result["columns"]) == list(COLUMN_NAMES)
    assert result["columns"]["apis"] == ["a", None]
    assert result["columns"]["minutes"] == [1, 1]
    assert result["has_anchors"] is True


def _result_files(tmp_path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """Two result files as the two sides write them, then read back."""
    arm64 = {**run_check(FakeSpeedups, FAKE_LINES), "machine": "aarch64"}
    host = {**run_check(FakeSpeedups, FAKE_LINES), "machine": "x86_64"}
    host["results"][1] = [None, "validate_line(b'x')"]
    (tmp_path / "arm64.json").write_text(json.dumps(arm64))
    (tmp_path / "x86_64.json").write_text(json.dumps(host))
    return (
        json.loads((tmp_path / "arm64.json").read_text()),
        json.loads((tmp_path / "x86_64.json").read_text()),
    )


def test_compare_names_the_line_that_differs(tmp_path: Path) -> None:
    arm64, host = _result_files(tmp_path)

    differences = compare_results(arm64, host)

    # Line 4 holds a NaN (not equal to itself) on both sides: not a difference.
    assert differences == [
        'line 2: aarch64 [null, "validate_data({\\"timestamp\\": '
        '\\"2026-11-01T10:00:00+02:00\\"})"], x86_64 [null, "validate_line(b\'x\')"]'
    ]
    assert compare_results(arm64, arm64) == []


def test_compare_shows_only_the_fields_of_an_entry_that_differ(tmp_path: Path) -> None:
    arm64, host = _result_files(tmp_path)
    host["results"] = json.loads(json.dumps(arm64["results"]))
    host["results"][0][0]["timestamp_ms"] = 60_001
    host["results"][3][0] = {"version_id": "v1", **host["results"][3][0]}

    differences = compare_results(arm64, host)

    assert differences == [
        'line 1: aarch64 {"timestamp_ms": 60000}, x86_64 {"timestamp_ms": 60001}',
        'line 4: aarch64 keys ["timestamp", "version_id", "ratio", "timestamp_ms"], '
        'x86_64 keys ["version_id", "timestamp", "ratio", "timestamp_ms"]',
    ]


def test_compare_reports_columns_counts_and_a_stale_build(tmp_path: Path) -> None:
    arm64, host = _result_files(tmp_path)
    host["results"] = arm64["results"]
    host["columns"]["minutes"] = [1, 2]
    host["has_anchors"] = False
    host["source_hash"] = "fedcba9876543210"

    differences = compare_results(arm64, host)

    assert differences == [
        "source_hash: aarch64 0123456789abcdef, x86_64 fedcba9876543210 "
        "(a stale build: run `make install`)",
        "column minutes: aarch64 and x86_64 differ",
        "has_anchors: aarch64 True, x86_64 False",
    ]


def test_main_prints_the_differences_and_fails(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    differences = [f"line {n}: aarch64 a, x86_64 b" for n in range(1, 13)]
    monkeypatch.setattr(verify_arm64, "verify", lambda workdir: (differences, "unused"))

    assert verify_arm64.main(["--workdir", str(tmp_path)]) == 1

    errors = capsys.readouterr().err.splitlines()
    assert errors[0] == "arm64 check FAILED: the ARM64 build differs from the x86_64 one"
    assert errors[1:11] == differences[:10]
    assert errors[11] == "... and 2 more"


def test_main_says_which_step_could_not_run(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    def broken(workdir: Path) -> None:
        raise VerifyError("apt-get update (Debian bookworm, arm64) failed (exit 100)")

    monkeypatch.setattr(verify_arm64, "verify", broken)

    assert verify_arm64.main(["--workdir", str(tmp_path)]) == 1
    assert capsys.readouterr().err == (
        "arm64 check could not run: apt-get update (Debian bookworm, arm64) failed (exit 100)\n"
    )


def test_a_failing_check_process_says_why(tmp_path: Path) -> None:
    lines_file = tmp_path / "lines.jsonl"
    lines_file.write_bytes(b"{}\n")

    # An empty folder on PYTHONPATH: the module cannot be imported.
    with pytest.raises(VerifyError, match=r"(?s)failed \(exit 1\).*No module named"):
        run_side([sys.executable], tmp_path, lines_file, tmp_path / "out.json")


@needs_host_build
def test_the_check_script_writes_comparable_results(tmp_path: Path) -> None:
    lines_file = tmp_path / "lines.jsonl"
    count = verify_arm64.write_lines(lines_file, count=200)

    result = run_side(
        [sys.executable], verify_arm64.HOST_MODULE_DIR, lines_file, tmp_path / "out.json"
    )

    assert count == 200 + len(EDGE_LINES)
    assert result["lines"] == count == len(result["results"])
    assert result["machine"] == platform.machine()
    assert 0 < result["handed_on"] < count
    valid = sum(entry is not None for entry, _ in result["results"])
    assert all(len(result["columns"][name]) == valid for name in COLUMN_NAMES[:5])
    assert compare_results(result, result) == []
    line = summary({**result, "machine": "aarch64"}, result, 1.34)
    decided = count - result["handed_on"]
    assert line == (
        f"arm64 check passed: {count} lines identical on aarch64 and {platform.machine()} "
        f"({decided} decided in C, {result['handed_on']} handed on) in 1.3 s"
    )
