"""linker: subprogram placement, call/func-pointer fix-ups, data references, kconfig values.

Pure tests on synthetic ProgramSpecs: no kernel needed.
"""
from __future__ import annotations

import struct

import pytest

from corebpf.linker import (LinkError, Resolver, kconfig_contents, kconfig_value,
                            kernel_version, link, reachable)
from corebpf.spec import ExternSpec, ProgramSpec, Relocation


def ins(code: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> bytes:
    return struct.pack("<BBhi", code, dst | (src << 4), off, imm)


EXIT = ins(0x95)
MOV0 = ins(0xB7)


def call_rel(imm: int = -1) -> bytes:
    return ins(0x85, 0, 1, 0, imm)


def ld64(dst: int = 1, src: int = 0, imm: int = 0, imm2: int = 0) -> bytes:
    return ins(0x18, dst, src, 0, imm) + ins(0, 0, 0, 0, imm2)


def decode(buf: bytes) -> list[tuple[int, int, int, int, int]]:
    out = []
    for i in range(0, len(buf), 8):
        code, regs, off, imm = struct.unpack_from("<BBhi", buf, i)
        out.append((code, regs & 15, regs >> 4, off, imm))
    return out


class LI:
    def __init__(self, insn_off: int, line: int) -> None:
        self.insn_off, self.line, self.col, self.file, self.text = insn_off, line, 1, "f.c", ""


def fn(name: str, section: str, body: bytes, relos=(), sec_off: int = 0, sub: bool = True,
       lines=()) -> ProgramSpec:
    return ProgramSpec(name, section, bytearray(body), relocations=list(relos),
                       section_offset=sec_off, is_subprog=sub, func_info=[(0, 100 + len(name))],
                       line_info=[LI(o, ln) for o, ln in lines])


class R(Resolver):
    def __init__(self) -> None:
        self.fds = {"counts": 11, ".rodata": 12, ".kconfig": 13}

    def map_fd(self, name: str) -> int:
        return self.fds[name]

    def kconfig(self, name: str) -> tuple[int, int]:
        return 13, {"CONFIG_HZ": 8}[name]

    def ksym(self, name: str) -> tuple:
        return ("btf", 777, 0) if name == "typed" else ("addr", 0xFFFFFFFF81000010)

    def kfunc(self, name: str):
        return {"bpf_k": (555, 0), "mod_k": (556, 42)}.get(name)


def objects():
    # .text holds sub_a (insns 0..3) then sub_b (insns 4..5) then cb (6..7)
    sub_a = fn("sub_a", ".text", MOV0 + call_rel(2) + ins(0x07) + EXIT, sec_off=0,
               lines=[(0, 10), (1, 11)])
    sub_b = fn("sub_b", ".text", MOV0 + EXIT, sec_off=4, lines=[(0, 20)])
    cb = fn("cb", ".text", MOV0 + EXIT, sec_off=6, lines=[(0, 30)])
    main = fn("main", "xdp", ld64(1, 0) + call_rel() + ld64(2, 0) + ld64(3) + EXIT,
              relos=[Relocation(0, "map", "counts"), Relocation(2, "call", "sub_a"),
                     Relocation(3, "func_ptr", "cb"), Relocation(5, "data", ".rodata", 16)],
              sub=False, lines=[(0, 1), (2, 2)])
    funcs = {f.name: f for f in (main, sub_a, sub_b, cb)}
    return main, funcs


def test_placement_order_and_call_offsets():
    main, funcs = objects()
    out = link(main, funcs, R())
    assert [(s, f.name) for s, f in out.layout] == [(0, "main"), (8, "sub_a"), (12, "sub_b"),
                                                     (14, "cb")]
    d = decode(out.insns)
    # main's call at insn 2 → sub_a at 8: imm = 8 - 2 - 1
    assert d[2][0] == 0x85 and d[2][4] == 5
    # sub_a's same-section static call (no relocation) at 8+1 → sub_b at 12
    assert d[9][4] == 12 - 9 - 1
    # callback: ld_imm64 src=PSEUDO_FUNC with a relative imm
    assert d[3][2] == 4 and d[3][4] == 14 - 3 - 1
    # map and data references
    assert d[0][2] == 1 and d[0][4] == 11 and d[1][4] == 0
    assert d[5][2] == 2 and d[5][4] == 12 and d[6][4] == 16
    # the originals are untouched
    assert decode(bytes(main.insns))[2][4] == -1


def test_func_and_line_info_shifted():
    main, funcs = objects()
    out = link(main, funcs, R())
    assert [off for off, _ in out.func_info] == [0, 8, 12, 14]
    assert [(off, li.line) for off, li in out.line_info] == [(0, 1), (2, 2), (8, 10), (9, 11),
                                                             (12, 20), (14, 30)]
    assert out.source_line(10).line == 11
    f, local = out.function_at(13)
    assert f.name == "sub_b" and local == 1


def test_reachable_only_what_is_called():
    main, funcs = objects()
    funcs["unused"] = fn("unused", ".text", MOV0 + EXIT, sec_off=8)
    assert [f.name for f in reachable(main, funcs)] == ["main", "sub_a", "sub_b", "cb"]


def test_externs_and_kfuncs():
    body = ld64(1) + ld64(2) + ld64(3) + call_rel(-1)[:1] + b"\x20" + call_rel()[2:] + \
        ins(0x85, 0, 2, 0, -1) + EXIT
    relos = [Relocation(0, "kconfig", "CONFIG_HZ"), Relocation(2, "ksym", "typed"),
             Relocation(4, "ksym", "untyped"), Relocation(6, "kfunc", "bpf_k"),
             Relocation(7, "kfunc", "mod_k")]
    main = fn("main", "tp/x/y", body, relos=relos, sub=False)
    out = link(main, {"main": main}, R())
    d = decode(out.insns)
    assert (d[0][2], d[0][4], d[1][4]) == (2, 13, 8)
    assert (d[2][2], d[2][4], d[3][4]) == (3, 777, 0)
    assert d[4][2] == 0 and d[4][4] & 0xFFFFFFFF == 0x81000010 and d[5][4] == -1
    assert (d[6][2], d[6][3], d[6][4]) == (2, 0, 555)
    assert (d[7][2], d[7][3], d[7][4]) == (2, 1, 556)
    assert out.fd_array == [0, 42]


def test_missing_weak_kfunc_is_zero():
    main = fn("main", "tp/x/y", ins(0x85, 0, 2, 0, -1) + EXIT,
              relos=[Relocation(0, "kfunc", "gone")], sub=False)
    d = decode(link(main, {"main": main}, R()).insns)
    assert (d[0][2], d[0][3], d[0][4]) == (2, 0, 0)


def test_unknown_map_and_function_are_named():
    main = fn("main", "xdp", ld64() + EXIT, relos=[Relocation(0, "map", "nope")], sub=False)
    with pytest.raises(LinkError, match="nope"):
        link(main, {"main": main}, R())
    main = fn("main", "xdp", call_rel() + EXIT, relos=[Relocation(0, "call", "ghost")],
              sub=False)
    with pytest.raises(LinkError, match="ghost"):
        link(main, {"main": main}, R())
    main = fn("main", "xdp", EXIT + EXIT, relos=[Relocation(0, "map", "counts")], sub=False)
    with pytest.raises(LinkError, match="not an ld_imm64"):
        link(main, {"main": main}, R())
    main = fn("main", "xdp", EXIT, relos=[Relocation(5, "map", "counts")], sub=False)
    with pytest.raises(LinkError, match="outside"):
        link(main, {"main": main}, R())


def test_recursion_places_once():
    a = fn("a", ".text", call_rel(-1) + EXIT, relos=[Relocation(0, "call", "a")])
    main = fn("main", "xdp", call_rel() + EXIT, relos=[Relocation(0, "call", "a")], sub=False)
    out = link(main, {"main": main, "a": a}, R())
    d = decode(out.insns)
    assert [f.name for _, f in out.layout] == ["main", "a"]
    assert d[0][4] == 1 and d[2][4] == -1


def K(name, kind="int", size=4, signed=False, weak=False, offset=0):
    return ExternSpec(name, "kconfig", weak=weak, offset=offset, size=size, kconfig_type=kind,
                      signed=signed)


def test_kconfig_values():
    assert kconfig_value(K("CONFIG_X", "bool", 1), "y") == b"\x01"
    assert kconfig_value(K("CONFIG_X", "bool", 1), "n") == b"\x00"
    assert kconfig_value(K("CONFIG_X", "tristate", 4), "m") == (2).to_bytes(4, "little")
    assert kconfig_value(K("CONFIG_X", "char", 1), "m") == b"m"
    assert kconfig_value(K("CONFIG_X", "int", 8), "0x10") == (16).to_bytes(8, "little")
    assert kconfig_value(K("CONFIG_X", "int", 4, True), "-3") == (-3).to_bytes(4, "little",
                                                                               signed=True)
    assert kconfig_value(K("CONFIG_X", "char_array", 8), '"abc"') == b"abc\0\0\0\0\0"
    assert kconfig_value(K("CONFIG_X", "char_array", 4), '"abcdef"') == b"abc\0"
    with pytest.raises(LinkError, match="CONFIG_X"):
        kconfig_value(K("CONFIG_X", "bool", 1), "m")
    with pytest.raises(LinkError):
        kconfig_value(K("CONFIG_X", "int", 1), "300")
    with pytest.raises(LinkError):
        kconfig_value(K("CONFIG_X", "int", 4), '"s"')


def test_kconfig_numbers_as_libbpf_reads_them():
    """strtoull(value, 0): octal with a leading 0, numbers into char and bool externs,
    range checks by declared size and signedness."""
    assert kconfig_value(K("CONFIG_X", "int", 4), "010") == (8).to_bytes(4, "little")
    assert kconfig_value(K("CONFIG_X", "int", 2), "0") == b"\0\0"
    assert kconfig_value(K("CONFIG_X", "char", 1), "65") == b"A"
    assert kconfig_value(K("CONFIG_X", "bool", 1), "1") == b"\x01"
    assert kconfig_value(K("CONFIG_X", "int", 8), "-1") == b"\xff" * 8
    assert kconfig_value(K("CONFIG_X", "int", 1, True), "-128") == b"\x80"
    for ext, raw in ((K("CONFIG_X", "bool", 1), "2"),           # not a boolean
                     (K("CONFIG_X", "int", 4), "-3"),           # unsigned: wraps, too big
                     (K("CONFIG_X", "int", 1, True), "128"),    # signed char range
                     (K("CONFIG_X", "int", 4), "08"),           # not octal
                     (K("CONFIG_X", "int", 4), "12abc"),        # not consumed
                     (K("CONFIG_X", "int", 8), "0x1" + "0" * 16),  # beyond u64
                     (K("CONFIG_X", "tristate", 4), "1")):      # numbers need int/char/bool
        with pytest.raises(LinkError, match="CONFIG_X"):
            kconfig_value(ext, raw)


def test_kconfig_contents_weak_and_strong():
    exts = [K("LINUX_KERNEL_VERSION", "int", 4, offset=0),
            K("CONFIG_SURELY_NOT_THERE_X", "bool", 1, weak=True, offset=4)]
    buf = kconfig_contents(exts, 8)
    assert int.from_bytes(buf[:4], "little") == kernel_version() > (4 << 16)
    assert buf[4] == 0
    with pytest.raises(LinkError, match="CONFIG_SURELY_NOT_THERE_X"):
        kconfig_contents([K("CONFIG_SURELY_NOT_THERE_X", "bool", 1)], 1)


def test_module_kfunc_indexes_shared_across_programs():
    """With a resolver that numbers module BTFs per object (the loader's, like libbpf's
    obj->fd_array), a program calling only the second module's kfunc still gets that
    module's object-wide index in insn->off, and the whole fd_array."""
    class Shared(R):
        def __init__(self) -> None:
            super().__init__()
            self.fd_array: list[int] = []

        def kfunc(self, name: str):
            return {"mod_a": (601, 41), "mod_b": (602, 42)}.get(name)

        def fd_index(self, btf_fd: int) -> int:
            if not self.fd_array:
                self.fd_array.append(0)
            if btf_fd not in self.fd_array[1:]:
                self.fd_array.append(btf_fd)
            return self.fd_array.index(btf_fd, 1)

    def prog(name: str, kf: str) -> ProgramSpec:
        return fn(name, "tc", ins(0x85, 0, 2, 0, -1) + EXIT,
                  relos=[Relocation(0, "kfunc", kf)], sub=False)
    pa, pb = prog("pa", "mod_a"), prog("pb", "mod_b")
    res = Shared()
    la = link(pa, {"pa": pa}, res)
    lb = link(pb, {"pb": pb}, res)
    assert decode(la.insns)[0] == (0x85, 0, 2, 1, 601)
    assert decode(lb.insns)[0] == (0x85, 0, 2, 2, 602)
    assert lb.fd_array == [0, 41, 42]
    # the plain Resolver (no fd_index): each program numbers its own modules from 1
    lb2 = link(pb, {"pb": pb}, type("P", (R,), {"kfunc": Shared.kfunc})())
    assert decode(lb2.insns)[0] == (0x85, 0, 2, 1, 602) and lb2.fd_array == [0, 42]


def test_kallsyms_ambiguous_names():
    """A name /proc/kallsyms lists at two addresses is ambiguous (libbpf refuses a typeless
    ksym of it); a name listed once is not."""
    from corebpf.linker import kallsyms, kallsyms_ambiguous
    seen: dict[str, set[str]] = {}
    with open("/proc/kallsyms") as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 3:
                seen.setdefault(parts[2], set()).add(parts[0])
    table = kallsyms()
    if not table or set().union(*seen.values()) == {"0000000000000000"}:
        pytest.skip("no readable /proc/kallsyms")
    twice = next((n for n, a in seen.items() if len(a) > 1), None)
    once = next(n for n, a in seen.items() if len(a) == 1)
    assert not kallsyms_ambiguous(once)
    if twice is not None:
        assert kallsyms_ambiguous(twice)


@pytest.mark.kernel
def test_syscall_wrapper_as_libbpf_probes_it():
    """LINUX_HAS_SYSCALL_WRAPPER is 1 only where a kprobe on the wrapper can be made (libbpf
    probes it that way): a kernel without kprobes gets 0 although __x64_sys_bpf exists."""
    import os
    import platform
    from corebpf import _sys, linker
    if platform.machine() != "x86_64":
        pytest.skip("x86-64 names")
    tracefs = _sys.tracefs_path()
    kprobes = os.path.exists("/sys/bus/event_source/devices/kprobe/type") or \
        (tracefs is not None and os.path.exists(os.path.join(tracefs, "kprobe_events")))
    linker._SYSCALL_WRAPPER = None
    want = 1 if kprobes and "__x64_sys_bpf" in linker.kallsyms() else 0
    assert linker._has_syscall_wrapper() == want
    exts = [K("LINUX_HAS_SYSCALL_WRAPPER", "int", 4, offset=0)]
    assert kconfig_contents(exts, 4) == want.to_bytes(4, "little")


@pytest.mark.kernel
def test_bpf_cookie_as_libbpf_probes_it():
    """LINUX_HAS_BPF_COOKIE comes from a probe (a kprobe program calling
    bpf_get_attach_cookie), as in libbpf: 1 on Linux 5.15+."""
    from corebpf import linker
    want = 1 if kernel_version() >= (5 << 16) + (15 << 8) else 0
    exts = [K("LINUX_HAS_BPF_COOKIE", "int", 4, offset=0)]
    assert kconfig_contents(exts, 4) == want.to_bytes(4, "little")
    assert linker._has_bpf_cookie() == want


def test_exception_callback_is_placed_last():
    """A program's exception callback (decl tag exception_callback:<name>) is called by
    nothing, yet goes into the program after all it calls, as libbpf places it; a callback
    the program also calls is not placed twice; an unknown one is a LinkError."""
    main, funcs = objects()
    funcs["exc"] = fn("exc", ".text", MOV0 + EXIT, sec_off=8)
    main.exception_cb = "exc"
    out = link(main, funcs, R())
    assert [f.name for _, f in out.layout] == ["main", "sub_a", "sub_b", "cb", "exc"]
    assert [off for off, _ in out.func_info] == [0, 8, 12, 14, 16]
    main.exception_cb = "sub_b"
    assert [f.name for _, f in link(main, funcs, R()).layout] == ["main", "sub_a", "sub_b",
                                                                  "cb"]
    main.exception_cb = "nope"
    with pytest.raises(LinkError, match="nope"):
        link(main, funcs, R())
    assert ProgramSpec("p", "xdp", bytearray(EXIT)).copy().exception_cb is None
