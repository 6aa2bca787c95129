"""Just enough ELF64 reading for uprobes and USDT: sections, symbols, segments.

Reads executables and shared libraries (not BPF objects: that is corebpf.elf). mmap'ed,
nothing decoded until asked.
"""
from __future__ import annotations

import mmap
import struct

from ..errors import AttachError

STT_FUNC = 2
STT_GNU_IFUNC = 10
SHT_SYMTAB = 2
SHT_DYNSYM = 11
SHT_NOTE = 7
PT_LOAD = 1


class ElfFile:
    """A mapped ELF64 little-endian file: ``sections``, ``segments``, symbol lookup."""

    __slots__ = ("path", "data", "_f", "sections", "segments", "type", "_syms", "_rawsections")

    def __init__(self, path: str) -> None:
        self.path = path
        try:
            self._f = open(path, "rb")
        except OSError as e:
            raise AttachError(f"cannot open {path}: {e.strerror}", hook="uprobe",
                              target=path, cause=e) from e
        try:
            self.data = mmap.mmap(self._f.fileno(), 0, access=mmap.ACCESS_READ)
        except (OSError, ValueError) as e:
            self._f.close()
            raise AttachError(f"cannot map {path}: {e}", hook="uprobe", target=path) from e
        try:
            self._parse()
        except (struct.error, IndexError, ValueError) as e:
            self.close()
            raise AttachError(f"{path} is not a valid ELF64 file ({e})", hook="uprobe",
                              target=path) from None
        self._syms: dict[str, tuple[int, int]] | None = None

    def _parse(self) -> None:
        d = self.data
        if d[:4] != b"\x7fELF" or d[4] != 2 or d[5] != 1:
            raise ValueError("not a little-endian ELF64 file")
        (self.type,) = struct.unpack_from("<H", d, 16)
        phoff, shoff = struct.unpack_from("<QQ", d, 32)
        phentsize, phnum, shentsize, shnum, shstrndx = struct.unpack_from("<HHHHH", d, 54)
        self.segments = []
        for i in range(phnum):
            p_type, p_flags, p_offset, p_vaddr, _pa, p_filesz, p_memsz = struct.unpack_from(
                "<IIQQQQQ", d, phoff + i * phentsize)
            self.segments.append((p_type, p_flags, p_offset, p_vaddr, p_filesz, p_memsz))
        raw = []
        for i in range(shnum):
            raw.append(struct.unpack_from("<IIQQQQIIQQ", d, shoff + i * shentsize))
        self.sections = {}
        if raw and shstrndx < len(raw):
            stroff = raw[shstrndx][4]
            for r in raw:
                name = self._cstr(stroff + r[0])
                # name -> (type, addr, offset, size, link, entsize, index)
                self.sections.setdefault(name, (r[1], r[3], r[4], r[5], r[6], r[9],
                                                len(self.sections)))
        self._rawsections = raw

    def _cstr(self, off: int) -> str:
        end = self.data.find(b"\0", off)
        return self.data[off:end].decode(errors="replace")

    def close(self) -> None:
        try:
            self.data.close()
        except Exception:  # noqa: BLE001
            pass
        self._f.close()

    def __enter__(self) -> "ElfFile":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def section(self, name: str) -> bytes | None:
        s = self.sections.get(name)
        if s is None:
            return None
        return bytes(self.data[s[2]:s[2] + s[3]])

    def symbols(self) -> dict[str, tuple[int, int]]:
        """Function symbols: name → (address, size), from .symtab then .dynsym."""
        if self._syms is not None:
            return self._syms
        syms: dict[str, tuple[int, int]] = {}
        d = self.data
        for secname in (".symtab", ".dynsym"):
            s = self.sections.get(secname)
            if s is None:
                continue
            _t, _a, off, size, link, entsize, _i = s
            strsec = self._rawsections[link]
            stroff = strsec[4]
            entsize = entsize or 24
            for pos in range(off, off + size - entsize + 1, entsize):
                st_name, st_info, _o, st_shndx, st_value, st_size = struct.unpack_from(
                    "<IBBHQQ", d, pos)
                if st_info & 0xF not in (STT_FUNC, STT_GNU_IFUNC) or st_shndx == 0 \
                        or not st_value:
                    continue
                name = self._cstr(stroff + st_name)
                base = name.split("@", 1)[0]
                syms.setdefault(name, (st_value, st_size))
                syms.setdefault(base, (st_value, st_size))
        self._syms = syms
        return syms

    def addr_to_offset(self, addr: int) -> int:
        """The file offset of virtual address ``addr`` (through the PT_LOAD segments)."""
        for p_type, _fl, p_offset, p_vaddr, p_filesz, _m in self.segments:
            if p_type == PT_LOAD and p_vaddr <= addr < p_vaddr + p_filesz:
                return addr - p_vaddr + p_offset
        # Objects without program headers (ET_REL) use section-relative addresses.
        for t, s_addr, s_off, s_size, *_ in self.sections.values():
            if s_addr and s_addr <= addr < s_addr + s_size and t != 8:  # not NOBITS
                return addr - s_addr + s_off
        raise AttachError(f"address {addr:#x} is in no loadable segment of {self.path}",
                          hook="uprobe", target=self.path)

    def symbol_offset(self, name: str) -> int:
        """The file offset of function ``name`` (what a uprobe needs)."""
        syms = self.symbols()
        hit = syms.get(name)
        if hit is None:
            near = sorted(n for n in syms if name in n)[:5]
            more = f"; similar: {', '.join(near)}" if near else ""
            raise AttachError(f"no function symbol {name!r} in {self.path}{more}",
                              hook="uprobe", target=f"{self.path}:{name}")
        return self.addr_to_offset(hit[0])

    def notes(self, section: str) -> list[tuple[str, int, bytes]]:
        """Entries (owner name, type, descriptor) of note section ``section``."""
        data = self.section(section)
        out: list[tuple[str, int, bytes]] = []
        if not data:
            return out
        pos = 0
        while pos + 12 <= len(data):
            namesz, descsz, ntype = struct.unpack_from("<III", data, pos)
            pos += 12
            name = data[pos:pos + namesz].rstrip(b"\0").decode(errors="replace")
            pos += (namesz + 3) & ~3
            desc = data[pos:pos + descsz]
            pos += (descsz + 3) & ~3
            out.append((name, ntype, desc))
        return out
