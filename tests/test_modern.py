"""Differential test against libbpf 1.5 on objects built by clang-22 (-mcpu=v4).

tests/test_differential.py and tests/test_realworld.py use Debian 12's clang 14 and
libbpf 1.1; objects from newer toolchains and newer libbpf conventions are checked here
(tests/modern.py builds everything from Debian's linux-source-6.12 and clang-22, cached by
content hash): our tests/progs/*.bpf.c and a curated set of the 6.12 BPF selftests (arena,
open-coded iterators, may_goto, exceptions, ``__arg_ctx``, cpuv4 instructions, typed and
weak kfuncs, struct_ops links ...). Every program libbpf 1.5 loads must load with corebpf
and the kernel must hold the same program and maps (tests/rwcompare.py, as
test_realworld.py does).

The test skips only when the toolchain is missing and Debian's registry cannot be reached;
with the registry reachable a missing clang-22 fails (scripts/setup-system.sh installs it).
"""
from __future__ import annotations

import socket
import subprocess
from pathlib import Path

import pytest

from conftest import BUILD
from rwcompare import differential, record
from test_differential import compare

import corpus
import modern

SUMMARY = BUILD / "modern-summary.json"
# libbpf ≥ 1.5 loads SEC("usdt") programs with expected attach type BPF_TRACE_UPROBE_MULTI
# (and attaches them through one uprobe_multi link) where the kernel has uprobe_multi links;
# corebpf loads them as plain kprobes (as libbpf 1.1): the kernel inlines another
# bpf_get_attach_cookie. Changing that needs object.py/features.py and link/usdt.py
# together (requested in /tmp/corebpf-requests/compat.md); until then it is an xfail here.
USDT_NOTE = ("USDT programs: corebpf loads them as kprobes, libbpf 1.5 as uprobe_multi "
             "programs (known, requested)")
# {object: {program: why}}: other known divergences, each requested in compat.md (kfunc
# flavours `name___flavor`, selftests-6.12/task_kfunc_success, was one until object.py
# resolved them by essential name)
KNOWN: dict[str, dict[str, str]] = {}


def _registry_reachable() -> bool:
    """Can we reach one of apt's sources (TCP connect, a few seconds at most)?"""
    import re
    hosts: list[tuple[str, int]] = []
    for f in [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]:
        try:
            text = f.read_text()
        except OSError:
            continue
        for scheme, host in re.findall(r"\b(https?)://([^/\s:]+)", text):
            hosts.append((host, 443 if scheme == "https" else 80))
    for host, port in dict.fromkeys(hosts):
        try:
            socket.create_connection((host, port), timeout=3).close()
            return True
        except OSError:
            continue
    return False


def _objects() -> tuple[dict[str, Path | str], str | None]:
    try:
        return modern.objects(), None
    except (corpus.CorpusError, OSError, subprocess.SubprocessError) as e:
        return {}, str(e)


OBJECTS, ERROR = _objects()


def _unavailable() -> None:
    reason = f"clang-22 / libbpf 1.5 toolchain unavailable: {ERROR}"
    if _registry_reachable():
        pytest.fail(reason)
    pytest.skip(reason + " (and Debian's registry cannot be reached)")


@pytest.fixture(scope="session")
def oracle15() -> Path:
    if ERROR:
        _unavailable()
    try:
        return modern.oracle()
    except corpus.CorpusError as e:
        pytest.fail(f"cannot build the libbpf 1.5 oracle: {e}")


@pytest.mark.kernel
@pytest.mark.parametrize("key", sorted(OBJECTS) or ["toolchain-unavailable"])
def test_modern_same_as_libbpf(key: str, oracle15: Path) -> None:
    path = OBJECTS[key]
    if isinstance(path, str):
        pytest.skip(f"{key}: {path}")
    lenient: list[str] = []
    ref, loaded, got, errors, problems = differential(oracle15, path, compare,
                                                      usdt_lenient=lenient)
    record(SUMMARY, key, ref, loaded, got, errors, problems)
    known = KNOWN.get(key, {})
    unexplained = [p for p in lenient if p.split(":", 1)[0] not in known]
    if problems and not unexplained:
        # known divergences, requested from the loader's owners (USDT_NOTE, KNOWN)
        notes = sorted({known[p.split(":", 1)[0]] for p in lenient} | (
            {USDT_NOTE} if len(lenient) < len(problems) else set()))
        pytest.xfail("; ".join(notes) + ": " + "; ".join(problems)[:300])
    assert not problems, "\n".join(problems)
    if not loaded:
        pytest.skip(f"libbpf 1.5 loads no program of {key} on this kernel: "
                    + "; ".join(f"{n}: {d['error']}" for n, d in ref.items())[:500])


@pytest.fixture(scope="session")
def spec_oracle15() -> Path:
    if ERROR:
        _unavailable()
    try:
        return modern.spec_oracle()
    except corpus.CorpusError as e:
        pytest.fail(f"cannot build the libbpf 1.5 spec oracle: {e}")


@pytest.mark.parametrize("key", sorted(OBJECTS) or ["toolchain-unavailable"])
def test_modern_spec_same_as_libbpf(key: str, spec_oracle15: Path) -> None:
    """Open time, no kernel: corebpf's ObjectSpec against libbpf 1.5's view (programs,
    sections, types, expected attach types, instructions, maps with their definitions and
    initial contents) — covers what the kernel here refuses to load (arena maps ...)."""
    from test_spec_oracle import compare as compare_spec
    path = OBJECTS[key]
    if isinstance(path, str):
        pytest.skip(f"{key}: {path}")
    compare_spec(spec_oracle15, path, key, libbpf="1.5")


def test_oracle_is_libbpf_1_5() -> None:
    """The oracle really is the newer libbpf (not the system's 1.1 headers)."""
    if ERROR:
        _unavailable()
    text = (modern.libbpf_dir() / "include" / "bpf" / "libbpf_version.h").read_text()
    major = int(text.split("LIBBPF_MAJOR_VERSION")[1].split()[0])
    minor = int(text.split("LIBBPF_MINOR_VERSION")[1].split()[0])
    assert (major, minor) >= (1, 5)


def test_sections_match_libbpf_1_5() -> None:
    """sections.py knows every SEC() convention of libbpf 1.5 (its section_defs table, read
    from the 6.12 source): same program type, expected attach type and flags, same order
    (the first match wins in both)."""
    import re

    from corebpf import sections as S
    from corebpf import uapi as U
    if ERROR:
        _unavailable()
    src = (modern.source_tree() / "tools" / "lib" / "bpf" / "libbpf.c").read_text()
    defs = re.findall(r'SEC_DEF\("([^"]+)",\s*(\w+),\s*(\w+),\s*([^,)]+)', src)
    assert len(defs) > 90
    ours = {d.pattern: d for d in S.SECTION_DEFS}
    problems = []
    for pattern, ptype, atype, flags in defs:
        d = ours.get(pattern)
        if d is None:
            problems.append(f"{pattern}: unknown to sections.py")
            continue
        want_flags = 0
        for part in flags.split("|"):
            want_flags |= getattr(S, part.strip())
        want = (getattr(U, "PROG_TYPE_" + ptype),
                None if atype == "0" else getattr(U, atype.removeprefix("BPF_")), want_flags)
        if (d.prog_type, d.attach_type, d.flags) != want:
            problems.append(f"{pattern}: libbpf {want}, sections.py "
                            f"{(d.prog_type, d.attach_type, d.flags)}")
    order = [d.pattern for d in S.SECTION_DEFS if d.pattern in {p for p, *_ in defs}]
    if order != [p for p, *_ in defs]:
        problems.append("the table order differs from libbpf's (first match wins)")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("name", ["arena_list", "arena_htab", "arena_atomics"])
def test_arena_globals_spec(name: str) -> None:
    """Global __arena variables (.addr_space.1) are references into the ARENA map, as
    libbpf 1.5 relocates them (map value of the arena map, offset = symbol + imm), and the
    section's bytes are the arena map's initial contents. (This kernel refuses ARENA maps
    to libbpf too, so the load itself is not compared here.)"""
    from corebpf.spec import ARENA_SECTION, ObjectSpec
    path = OBJECTS.get(f"selftests-6.12/{name}")
    if ERROR or path is None:
        _unavailable()
    if isinstance(path, str):
        pytest.fail(path)
    spec = ObjectSpec.from_file(str(path))
    arena = [m for m in spec.maps.values() if m.type == 33]
    assert len(arena) == 1 and arena[0].map_extra % 4096 == 0
    from corebpf.elf import ELFFile
    with ELFFile.open(str(path)) as elf:
        sec = elf.section_by_name(ARENA_SECTION)
        assert sec is not None
        assert len(arena[0].contents) == sec.size
    refs = [r for p in spec.functions.values() for r in p.relocations
            if r.kind == "data" and r.target == arena[0].name]
    assert refs and all(0 <= r.offset < sec.size + 4096 for r in refs)


def test_arena_without_map_is_an_object_error(tmp_path: Path) -> None:
    """__arena globals without an ARENA map: a typed error naming the section."""
    from corebpf.errors import ObjectError
    from corebpf.spec import ObjectSpec
    if ERROR:
        _unavailable()
    src = tmp_path / "arena_nomap.bpf.c"
    src.write_text('#define __arena __attribute__((address_space(1)))\n'
                   'int __arena counter = 1;\n'
                   'char LICENSE[] __attribute__((section("license"))) = "GPL";\n'
                   '__attribute__((section("xdp"))) int f(void *ctx)\n'
                   '{ return counter; }\n')
    obj = tmp_path / "arena_nomap.bpf.o"
    subprocess.run([modern.clang(), "-O2", "-g", "-target", "bpf", "-mcpu=v4", "-c", str(src),
                    "-o", str(obj)], check=True, capture_output=True)
    with pytest.raises(ObjectError, match="ARENA map") as e:
        ObjectSpec.from_file(str(obj))
    assert ".addr_space.1" in str(e.value)
