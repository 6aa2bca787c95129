"""USDT probes: ``.note.stapsdt`` parsing, argument specs, and attaching as uprobes.

Every probe site becomes a uprobe whose BPF cookie is a spec id. The spec (where each
argument lives: constant, register, or memory at register+offset) is written into the
object's ``__bpf_usdt_specs`` map in the layout of libbpf's ``<bpf/usdt.bpf.h>``, so BPF
programs written with ``BPF_USDT(...)``/``bpf_usdt_arg()`` read their arguments unchanged.
"""
from __future__ import annotations

import re
import struct
TYPE_CHECKING = False  # typing costs ≈3 ms of start-up; type checkers take this as True
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any

from ..errors import AttachError
from ._elf import ElfFile
from .base import Link, fdnum
from .uprobe import attach_uprobe, resolve_path

NT_STAPSDT = 3
MAX_ARGS = 12
SPEC_SIZE = 208  # sizeof(struct __bpf_usdt_spec)
ARG_CONST, ARG_REG, ARG_REG_DEREF = 0, 1, 2

# offsetof(struct pt_regs, reg) on x86-64, for every name a register goes by.
_X86_REGS = {}
for _off, _names in ((0, "r15"), (8, "r14"), (16, "r13"), (24, "r12"),
                     (32, "rbp ebp bp bpl"), (40, "rbx ebx bx bl"), (48, "r11"), (56, "r10"),
                     (64, "r9"), (72, "r8"), (80, "rax eax ax al"), (88, "rcx ecx cx cl"),
                     (96, "rdx edx dx dl"), (104, "rsi esi si sil"), (112, "rdi edi di dil"),
                     (128, "rip eip ip"), (152, "rsp esp sp spl")):
    for _n in _names.split():
        _X86_REGS[_n] = _off
        if _n.startswith("r") and _n[1:].isdigit():
            for suf in ("d", "w", "b"):
                _X86_REGS[_n + suf] = _off


class UsdtArg:
    """One argument location: ``kind`` (const/reg/deref), ``size`` (bytes, negative =
    signed), ``reg`` (register name), ``reg_off`` (pt_regs offset), ``value`` (constant
    or memory offset)."""

    __slots__ = ("kind", "size", "reg", "reg_off", "value", "text")

    def __init__(self, kind: int, size: int, reg: str | None, reg_off: int, value: int,
                 text: str) -> None:
        self.kind, self.size, self.reg, self.reg_off, self.value, self.text = \
            kind, size, reg, reg_off, value, text

    def pack(self) -> bytes:
        nbytes = abs(self.size) or 8
        return struct.pack("<QIhbb", self.value & 0xFFFFFFFFFFFFFFFF, self.kind,
                           self.reg_off, 1 if self.size < 0 else 0, 64 - nbytes * 8)

    def __repr__(self) -> str:
        return f"UsdtArg({self.text!r})"


class UsdtNote:
    """One probe site: provider, name, file offset of the probe ``offset``, the semaphore's
    file offset (0 if none) and the argument specs."""

    __slots__ = ("provider", "name", "offset", "semaphore", "args", "args_text", "pc")

    def __init__(self, provider: str, name: str, pc: int, offset: int, semaphore: int,
                 args_text: str) -> None:
        self.provider, self.name, self.pc, self.offset = provider, name, pc, offset
        self.semaphore, self.args_text = semaphore, args_text
        self.args = parse_args(args_text, f"{provider}:{name}")

    def spec(self, cookie: int = 0) -> bytes:
        """``struct __bpf_usdt_spec`` for this site (as usdt.bpf.h reads it)."""
        if len(self.args) > MAX_ARGS:
            raise AttachError(f"USDT probe has {len(self.args)} arguments, at most "
                              f"{MAX_ARGS} are supported", hook="usdt",
                              target=f"{self.provider}:{self.name}")
        b = bytearray(SPEC_SIZE)
        for i, a in enumerate(self.args):
            b[i * 16:(i + 1) * 16] = a.pack()
        struct.pack_into("<Qh", b, MAX_ARGS * 16, cookie, len(self.args))
        return bytes(b)

    def __repr__(self) -> str:
        return (f"UsdtNote({self.provider}:{self.name} at {self.offset:#x}, "
                f"semaphore={self.semaphore:#x}, args={self.args_text!r})")


_ARG_RE = [
    (re.compile(r"^(-?\d+)@\$(-?(?:0x[0-9a-fA-F]+|\d+))$"), "const"),
    (re.compile(r"^(-?\d+)@%(\w+)$"), "reg"),
    (re.compile(r"^(-?\d+)@(-?(?:0x[0-9a-fA-F]+|\d+))?\(%(\w+)\)$"), "deref"),
]


def parse_args(text: str, where: str = "") -> list[UsdtArg]:
    """Parse a USDT argument string such as ``"-4@%edi 8@-16(%rbp) 4@$5"`` (x86-64)."""
    out: list[UsdtArg] = []
    for tok in text.split():
        for rx, kind in _ARG_RE:
            m = rx.match(tok)
            if not m:
                continue
            size = int(m.group(1))
            if abs(size) not in (1, 2, 4, 8):
                raise AttachError(f"bad argument size in {tok!r}", hook="usdt", target=where)
            if kind == "const":
                out.append(UsdtArg(ARG_CONST, size, None, 0, int(m.group(2), 0), tok))
            else:
                reg = m.group(2) if kind == "reg" else m.group(3)
                if reg not in _X86_REGS:
                    raise AttachError(f"unknown register {reg!r} in argument {tok!r}",
                                      hook="usdt", target=where)
                if kind == "reg":
                    out.append(UsdtArg(ARG_REG, size, reg, _X86_REGS[reg], 0, tok))
                else:
                    off = int(m.group(2), 0) if m.group(2) else 0
                    out.append(UsdtArg(ARG_REG_DEREF, size, reg, _X86_REGS[reg], off, tok))
            break
        else:
            raise AttachError(f"unsupported USDT argument spec {tok!r} (only constants, "
                              "registers and register+offset memory are supported)",
                              hook="usdt", target=where)
    return out


def read_notes(path: str) -> list[UsdtNote]:
    """Every USDT probe site in the ELF file at ``path``."""
    with ElfFile(path) as elf:
        base_sec = elf.sections.get(".stapsdt.base")
        out = []
        for owner, ntype, desc in elf.notes(".note.stapsdt"):
            if owner != "stapsdt" or ntype != NT_STAPSDT or len(desc) < 27:
                continue
            pc, base, sema = struct.unpack_from("<QQQ", desc, 0)
            strs = desc[24:].split(b"\0")
            if len(strs) < 3:
                continue
            provider, name, args = (s.decode(errors="replace") for s in strs[:3])
            if base_sec is not None and base:
                # prelink may have moved the file: the note records where .stapsdt.base was
                pc += base_sec[1] - base
            offset = elf.addr_to_offset(pc)
            sema_off = elf.addr_to_offset(sema) if sema else 0
            out.append(UsdtNote(provider, name, pc, offset, sema_off, args))
        return out


def find_probes(path: str, provider: str, name: str) -> list[UsdtNote]:
    notes = read_notes(path)
    hits = [n for n in notes if n.provider == provider and n.name == name]
    if not hits:
        have = sorted({f"{n.provider}:{n.name}" for n in notes})
        raise AttachError(f"no USDT probe {provider}:{name} in {path}"
                          + (f"; it has: {', '.join(have[:10])}" if have else
                             " (it has no .note.stapsdt probes)"),
                          hook="usdt", target=f"{path}:{provider}:{name}")
    return hits


# spec ids handed out per specs map (kernel map id -> next free id)
_next_spec: dict[int, int] = {}


def _object_map(program: Any, name: str) -> Any:
    for attr in ("object", "obj", "_object"):
        obj = getattr(program, attr, None)
        maps = getattr(obj, "maps", None) if obj is not None else None
        if maps is not None:
            try:
                return maps[name]
            except (KeyError, TypeError):
                return None
    return None


def attach_usdt(program: Any, binary: str, provider: str, name: str, *,
                pid: int | None = None, cookie: int = 0, specs_map: Any = None) -> Link:
    """Attach a ``usdt`` program to every site of probe ``provider:name`` in ``binary``.

    The argument specs go into ``specs_map`` (default: the program's object's
    ``__bpf_usdt_specs``), keyed by the BPF cookie of each site; ``cookie`` is what
    ``bpf_usdt_cookie()`` returns. Needs BPF cookies (Linux 5.15+). Close to detach.
    """
    from .perf_event import PerfEventLinks
    path = resolve_path(binary, pid)
    sites = find_probes(path, provider, name)
    if specs_map is None:
        specs_map = _object_map(program, "__bpf_usdt_specs")
    links: list[Link] = []
    try:
        for site in sites:
            spec_id = 0
            if specs_map is not None:
                from .. import _sys
                mfd = fdnum(specs_map)
                mid = _sys.map_info(mfd).get("id", mfd)
                spec_id = _next_spec.get(mid, 0)
                size = getattr(specs_map, "value_size", SPEC_SIZE) or SPEC_SIZE
                maxe = getattr(specs_map, "max_entries", 256) or 256
                if spec_id >= maxe:
                    raise AttachError(f"{specs_map!r} is full ({maxe} USDT specs)",
                                      hook="usdt", target=f"{provider}:{name}")
                _next_spec[mid] = spec_id + 1
                val = site.spec(cookie).ljust(size, b"\0")[:size]
                _sys.map_update_elem(mfd, struct.pack("<i", spec_id), val)
            links.append(attach_uprobe(program, path, None, offset=site.offset, pid=pid,
                                       ref_ctr_offset=site.semaphore, cookie=spec_id))
    except BaseException:
        for ln in links:
            ln.close()
        raise
    target = f"{path}:{provider}:{name}"
    if len(links) == 1:
        links[0].hook, links[0].target = "usdt", target
        return links[0]
    return PerfEventLinks(links, program, "usdt", target)


__all__ = ["attach_usdt", "read_notes", "parse_args", "find_probes", "UsdtNote", "UsdtArg"]
