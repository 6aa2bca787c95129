"""Symbolization for the profiler: kernel addresses via /proc/kallsyms, user addresses via
the ELF symbol tables of the files mapped in /proc/PID/maps. Standard library only."""
from __future__ import annotations

import bisect
import os
import struct


class SymbolTable:
    """Sorted (address, name) pairs with nearest-below lookup."""

    __slots__ = ("addrs", "names", "sizes")

    def __init__(self, entries: list[tuple[int, int, str]]) -> None:
        entries.sort()
        self.addrs = [a for a, _, _ in entries]
        self.sizes = [s for _, s, _ in entries]
        self.names = [n for _, _, n in entries]

    def lookup(self, addr: int) -> tuple[str, int] | None:
        """``(name, offset)`` of the symbol covering ``addr``, or None."""
        i = bisect.bisect_right(self.addrs, addr) - 1
        if i < 0:
            return None
        off = addr - self.addrs[i]
        if self.sizes[i] and off >= self.sizes[i]:
            return None  # past the end of the nearest symbol: a stripped local function
        return self.names[i], off


_kallsyms: SymbolTable | None = None


def kernel_symbols() -> SymbolTable:
    """/proc/kallsyms as a table (read once). Addresses are 0 without root."""
    global _kallsyms
    if _kallsyms is None:
        entries = []
        with open("/proc/kallsyms", "rb") as f:
            for line in f:
                parts = line.split()
                if len(parts) < 3 or parts[1] not in b"tTwW":
                    continue
                addr = int(parts[0], 16)
                if addr:
                    entries.append((addr, 0, parts[2].decode()))
        _kallsyms = SymbolTable(entries)
    return _kallsyms


def ksym(addr: int) -> str:
    hit = kernel_symbols().lookup(addr)
    return f"{hit[0]}+{hit[1]:#x}" if hit else f"{addr:#x}"


class ElfSymbols:
    """Function symbols (.symtab and .dynsym) and PT_LOAD segments of one ELF file."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.loads: list[tuple[int, int, int]] = []  # (p_offset, p_vaddr, p_filesz)
        entries: list[tuple[int, int, str]] = []
        try:
            with open(path, "rb") as f:
                data = f.read()
            self._parse(data, entries)
        except (OSError, struct.error, ValueError, IndexError):
            pass  # unreadable or not ELF: addresses stay unsymbolized
        self.table = SymbolTable(entries)

    def _parse(self, d: bytes, out: list[tuple[int, int, str]]) -> None:
        if d[:4] != b"\x7fELF" or d[4] != 2 or d[5] != 1:
            return  # only ELF64 little-endian
        (e_phoff, e_shoff) = struct.unpack_from("<QQ", d, 32)
        e_phentsize, e_phnum, e_shentsize, e_shnum = struct.unpack_from("<HHHH", d, 54)
        for i in range(e_phnum):
            p_type, _, p_offset, p_vaddr, _, p_filesz = struct.unpack_from(
                "<IIQQQQ", d, e_phoff + i * e_phentsize)
            if p_type == 1:  # PT_LOAD
                self.loads.append((p_offset, p_vaddr, p_filesz))
        secs = [struct.unpack_from("<IIQQQQIIQQ", d, e_shoff + i * e_shentsize)
                for i in range(e_shnum)]
        for sh in secs:
            if sh[1] not in (2, 11):  # SHT_SYMTAB, SHT_DYNSYM
                continue
            off, size, link, entsize = sh[4], sh[5], sh[6], sh[9] or 24
            stroff = secs[link][4]
            for j in range(size // entsize):
                st_name, st_info, _, st_shndx, st_value, st_size = struct.unpack_from(
                    "<IBBHQQ", d, off + j * entsize)
                if (st_info & 0xF) != 2 or not st_value or not st_shndx:  # STT_FUNC, defined
                    continue
                end = d.index(b"\0", stroff + st_name)
                out.append((st_value, st_size, d[stroff + st_name:end].decode("utf-8", "replace")))

    def vaddr(self, file_off: int) -> int:
        """The ELF virtual address of file offset ``file_off``."""
        for p_off, p_vaddr, p_filesz in self.loads:
            if p_off <= file_off < p_off + p_filesz:
                return file_off - p_off + p_vaddr
        return file_off


_elf_cache: dict[str, ElfSymbols] = {}


class ProcessSymbols:
    """Symbolizes user addresses of one process through /proc/PID/maps."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.maps: list[tuple[int, int, int, str]] = []
        try:
            with open(f"/proc/{pid}/maps") as f:
                for line in f:
                    parts = line.split(None, 5)
                    if len(parts) < 6 or "x" not in parts[1]:
                        continue
                    path = parts[5].strip()
                    if not path.startswith("/"):
                        continue
                    lo, hi = (int(x, 16) for x in parts[0].split("-"))
                    self.maps.append((lo, hi, int(parts[2], 16), path))
        except OSError:
            pass  # the process is gone: addresses stay raw

    def sym(self, addr: int) -> str:
        for lo, hi, off, path in self.maps:
            if lo <= addr < hi:
                # read the file through the process's root, so containers work too
                real = f"/proc/{self.pid}/root{path}"
                key = real if os.path.exists(real) else path
                elf = _elf_cache.get(key)
                if elf is None:
                    elf = _elf_cache[key] = ElfSymbols(key)
                hit = elf.table.lookup(elf.vaddr(addr - lo + off))
                base = os.path.basename(path)
                return f"{hit[0]}+{hit[1]:#x}" if hit else f"{base}+{addr - lo + off:#x}"
        return f"{addr:#x}"

