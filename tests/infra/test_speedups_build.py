"""The ingest fast path as Lambda gets it: cross-compiled for ARM64, and only in the deps layer.

The module is really built with zig (a few seconds) and its ELF is read here in Python, so the
checks need neither binutils nor an ARM64 machine: the right CPU, the init function Python
looks for, no glibc newer than the chosen one and no libpython to link against (the stable ABI
takes its symbols from the interpreter).
"""

from __future__ import annotations

import shutil
import struct
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from infra import bundling, functions

EM_AARCH64 = 183
ET_DYN = 3
SHT_DYNAMIC = 6
SHT_DYNSYM = 11
SHT_GNU_VERNEED = 0x6FFFFFFE
DT_NEEDED = 1
STB_GLOBAL = 1
STT_FUNC = 2
SHN_UNDEF = 0
ELF_HEADER = struct.Struct("<16sHHIQQQIHHHHHH")
SECTION_HEADER = struct.Struct("<IIQQQQIIQQ")
SYMBOL = struct.Struct("<IBBHQQ")
DYNAMIC_ENTRY = struct.Struct("<qQ")
VERNEED = struct.Struct("<HHIII")
VERNAUX = struct.Struct("<IHHII")


@dataclass(frozen=True)
class Section:
    type: int
    offset: int
    size: int
    link: int
    info: int


@dataclass(frozen=True)
class ElfFacts:
    """What the dynamic loader will see of a 64-bit little-endian ELF file."""

    file_type: int
    machine: int
    exported_functions: frozenset[str]
    needed_libraries: tuple[str, ...]
    needed_versions: frozenset[str]


def _string(data: bytes, table: Section, offset: int) -> str:
    start = table.offset + offset
    return data[start : data.index(b"\0", start)].decode()


def read_elf(path: Path) -> ElfFacts:
    """Read the header, the dynamic symbols, DT_NEEDED and the version needs of `path`."""
    data = path.read_bytes()
    header = ELF_HEADER.unpack_from(data)
    ident, file_type, machine, shoff, shentsize, shnum = (
        header[0],
        header[1],
        header[2],
        header[6],
        header[11],
        header[12],
    )
    assert ident[:4] == b"\x7fELF" and ident[4] == 2 and ident[5] == 1, "not ELF64 LE"
    sections = [
        Section(*(fields[i] for i in (1, 4, 5, 6, 7)))
        for fields in (
            SECTION_HEADER.unpack_from(data, shoff + i * shentsize) for i in range(shnum)
        )
    ]
    exported: set[str] = set()
    needed: list[str] = []
    versions: set[str] = set()
    for section in sections:
        strings = sections[section.link]
        if section.type == SHT_DYNSYM:
            for offset in range(section.offset, section.offset + section.size, SYMBOL.size):
                name, info, _, shndx, _, _ = SYMBOL.unpack_from(data, offset)
                if info >> 4 == STB_GLOBAL and info & 0xF == STT_FUNC and shndx != SHN_UNDEF:
                    exported.add(_string(data, strings, name))
        elif section.type == SHT_DYNAMIC:
            for offset in range(section.offset, section.offset + section.size, DYNAMIC_ENTRY.size):
                tag, value = DYNAMIC_ENTRY.unpack_from(data, offset)
                if tag == DT_NEEDED:
                    needed.append(_string(data, strings, value))
        elif section.type == SHT_GNU_VERNEED:
            versions |= _version_needs(data, section, strings)
    return ElfFacts(file_type, machine, frozenset(exported), tuple(needed), frozenset(versions))


def _version_needs(data: bytes, section: Section, strings: Section) -> set[str]:
    names = set()
    need = section.offset
    for _ in range(section.info):  # sh_info counts the Verneed entries
        _, count, _, aux_offset, next_need = VERNEED.unpack_from(data, need)
        aux = need + aux_offset
        for _ in range(count):
            _, _, _, name, next_aux = VERNAUX.unpack_from(data, aux)
            names.add(_string(data, strings, name))
            aux += next_aux
        need += next_need
    return names


def glibc_versions(facts: ElfFacts) -> list[tuple[int, ...]]:
    """The glibc versions `facts` needs, e.g. `GLIBC_2.17` → (2, 17); GLIBC_PRIVATE fails."""
    prefix = "GLIBC_"
    return [
        tuple(int(part) for part in name.removeprefix(prefix).split("."))
        for name in facts.needed_versions
        if name.startswith(prefix)
    ]


@pytest.fixture(scope="module")
def lambda_module(tmp_path_factory: pytest.TempPathFactory) -> ElfFacts:
    """The fast path, cross-compiled exactly as the layer build does it."""
    built = bundling.build_speedups(tmp_path_factory.mktemp("deps-layer-python"))
    assert built.name == "_horizon_speedups.abi3.so"
    return read_elf(built)


def test_the_reader_finds_glibc_versions_in_a_real_binary():
    # Without this an ELF reader that finds nothing would pass the glibc check below.
    facts = read_elf(Path(sys.executable).resolve())
    assert facts.needed_versions
    assert (2, 2, 5) in glibc_versions(facts) or (2, 17) in glibc_versions(facts)


def test_lambda_module_is_an_arm64_shared_object(lambda_module):
    assert lambda_module.file_type == ET_DYN
    assert lambda_module.machine == EM_AARCH64


def test_lambda_module_exports_its_init_function(lambda_module):
    assert "PyInit__horizon_speedups" in lambda_module.exported_functions


def test_lambda_module_needs_no_glibc_newer_than_its_target(lambda_module):
    target = tuple(int(part) for part in bundling.SPEEDUPS_TARGET.rsplit(".", 2)[-2:])
    assert target == (2, 17)
    newer = [version for version in glibc_versions(lambda_module) if version > target]
    assert newer == []


def test_lambda_module_does_not_link_libpython(lambda_module):
    # Lambda's interpreter provides the stable ABI; a libpython3.11 dependency would not load.
    assert not [name for name in lambda_module.needed_libraries if "python" in name]


def test_a_failed_cross_build_names_zig(tmp_path, monkeypatch):
    def no_zig(*args, **kwargs):
        raise FileNotFoundError("No module named ziglang")

    monkeypatch.setattr(bundling.subprocess, "run", no_zig)
    with pytest.raises(bundling.SpeedupsBuildError, match="ziglang") as failure:
        bundling.build_speedups(tmp_path)
    assert bundling.SPEEDUPS_TARGET in str(failure.value)
    assert not list(tmp_path.iterdir())


@pytest.fixture(scope="module")
def staged_layers(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The core and deps layers as `cdk synth` stages them, by construct id.

    Both hold a compiled module: the deps layer as pip and the cross build leave it, the core
    layer (a copy of the project's) as `make install` leaves it, built or not on this machine.
    """
    import aws_cdk as cdk

    root = tmp_path_factory.mktemp("project")
    shutil.copytree(functions.ROOT / "layers" / "core", root / "layers" / "core")
    deps = tmp_path_factory.mktemp("deps-layer")
    for module in (
        deps / "python" / "orjson" / "orjson.cpython-314-aarch64-linux-gnu.so",
        deps / "python" / "_horizon_speedups.abi3.so",
        root / "layers" / "core" / "python" / "_horizon_speedups.abi3.so",
    ):
        module.parent.mkdir(parents=True, exist_ok=True)
        module.write_bytes(b"\x7fELF")
    app = cdk.App(outdir=str(tmp_path_factory.mktemp("cdk.out")))
    stack = cdk.Stack(app, "Layers")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(functions, "ROOT", root)
        layers = functions.Functions(
            stack,
            "Functions",
            specs=[],
            resources=functions.Resources(tables={}, buckets={}, queues={}, websocket=None),
            deps_layer_dir=deps,
        )
    return {
        layer.node.id: Path(app.outdir) / layer.node.find_child("Code").asset_path
        for layer in (layers.core_layer, layers.deps_layer)
    }


def test_core_layer_ships_python_sources_only(staged_layers):
    core = staged_layers["CoreLayer"]
    assert (core / "python" / "horizon" / "ingest" / "validator.py").is_file()
    assert (core / "python" / "horizon" / "speedups.py").is_file()
    assert not (core / "speedups").exists()
    assert not list(core.rglob("*.so"))


def test_core_layer_excludes_only_add_to_the_shared_ones():
    assert functions.CORE_LAYER_EXCLUDES[: len(functions.ASSET_EXCLUDES)] == (
        functions.ASSET_EXCLUDES
    )
    assert {"speedups", "**/*.so"} <= set(functions.CORE_LAYER_EXCLUDES)
    assert not [pattern for pattern in functions.ASSET_EXCLUDES if ".so" in pattern]


def test_deps_layer_keeps_compiled_modules(staged_layers):
    python = staged_layers["DepsLayer"] / "python"
    assert (python / "orjson" / "orjson.cpython-314-aarch64-linux-gnu.so").is_file()
    assert (python / "_horizon_speedups.abi3.so").is_file()
