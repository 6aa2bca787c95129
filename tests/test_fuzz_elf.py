"""Fuzzing the object reader: mutated and truncated real objects may only raise
corebpf.errors.Error — never struct.error/IndexError/KeyError/... — and never hang."""
from __future__ import annotations

import signal
import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from corebpf import elf as E
from corebpf.errors import Error
from corebpf.spec import ObjectSpec

CORPUS = ("spec_maps", "spec_funcs", "spec_data", "spec_sections", "spec_kfunc",
          "spec_structops", "spec_legacy")
PER_CASE_SECONDS = 5


class Hang(Exception):
    pass


def _alarm(signum, frame):
    raise Hang("parsing took longer than the per-case limit")


@pytest.fixture(scope="module")
def corpus(bpf_prog):
    out = {}
    for name in CORPUS:
        data = bpf_prog(name).read_bytes()
        e = E.ELFFile(data, name)
        # regions worth corrupting: headers, tables, BTF, relocations, code, maps
        regions = [(0, 64)]
        h = struct.unpack_from("<Q", data, 0x28)[0]
        regions.append((h, len(e.sections) * 64))
        for s in e.sections:
            if s.type in (E.SHT_SYMTAB, E.SHT_REL, E.SHT_STRTAB) or s.is_exec or \
                    s.name in (".BTF", ".BTF.ext", ".maps", ".data", ".rodata", "license",
                               ".struct_ops", ".struct_ops.link", "maps"):
                if s.type != E.SHT_NOBITS and s.size:
                    regions.append((s.offset, s.size))
        btf = [(s.offset, s.size) for s in e.sections if s.name in (".BTF", ".BTF.ext")]
        out[name] = (data, regions)
        out[name + ":btf"] = (data, btf)
    return out


def parse(data: bytes) -> None:
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, PER_CASE_SECONDS)
    try:
        spec = ObjectSpec.from_bytes(data, "fuzz.o")
        # touch what the loader and `inspect` read
        for p in spec.functions.values():
            _ = (p.insn_count, p.type_name, len(p.relocations), len(p.line_info))
        for m in spec.maps.values():
            _ = (m.type_name, m.key_size, m.value_size)
        for v in spec.variables.values():
            _ = v.value
        spec.copy()
        from corebpf.cli.inspect import describe, disassemble, render
        render(describe(spec))
        for p in spec.functions.values():
            disassemble(p)
    except Error:
        pass
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


WIDTHS = {1: "<B", 2: "<H", 4: "<I", 8: "<Q"}
mutation = st.tuples(
    st.sampled_from(sorted(WIDTHS)),               # field width
    st.floats(0, 1, exclude_max=True),             # position within region
    st.integers(0, 30),                            # region index (mod len)
    st.one_of(st.integers(0, 3), st.integers(0, 0xFFFF), st.integers(0, 2**64 - 1),
              st.sampled_from([0xFFFFFFFF, 0x7FFFFFFF, 0x80000000, 1 << 31, 8, 16, 24, 64])),
)


@settings(max_examples=1500, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
@given(name=st.sampled_from(CORPUS), muts=st.lists(mutation, min_size=1, max_size=4))
def test_mutated_fields(corpus, name, muts):
    data, regions = corpus[name]
    b = bytearray(data)
    for width, frac, ri, value in muts:
        start, size = regions[ri % len(regions)]
        pos = start + int(frac * max(1, size - width))
        if pos + width > len(b):
            continue
        struct.pack_into(WIDTHS[width], b, pos, value & ((1 << (8 * width)) - 1))
    parse(bytes(b))


@settings(max_examples=600, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
@given(name=st.sampled_from(CORPUS), cut=st.floats(0, 1), flips=st.lists(
    st.tuples(st.floats(0, 1, exclude_max=True), st.integers(1, 255)), max_size=8))
def test_truncated_and_flipped(corpus, name, cut, flips):
    data, _ = corpus[name]
    b = bytearray(data[:int(cut * len(data))])
    for frac, x in flips:
        if b:
            b[int(frac * len(b))] ^= x
    parse(bytes(b))


@settings(max_examples=400, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
@given(blob=st.binary(max_size=512))
def test_random_bytes_after_header(corpus, blob):
    data, _ = corpus["spec_funcs"]
    parse(data[:64] + blob)
    parse(b"\x7fELF\x02\x01\x01" + blob)


@settings(max_examples=800, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
@given(name=st.sampled_from(CORPUS), muts=st.lists(mutation, min_size=1, max_size=3))
def test_mutated_btf(corpus, name, muts):
    """Corrupt only .BTF/.BTF.ext: map definitions, externs, variables and line info are
    decoded from them."""
    data, regions = corpus[name + ":btf"]
    b = bytearray(data)
    for width, frac, ri, value in muts:
        start, size = regions[ri % len(regions)]
        pos = start + int(frac * max(1, size - width))
        struct.pack_into(WIDTHS[width], b, pos, value & ((1 << (8 * width)) - 1))
    parse(bytes(b))
