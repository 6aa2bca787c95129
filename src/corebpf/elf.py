"""A small ELF64 little-endian reader for BPF objects (struct + mmap, no pyelftools).

Only what a BPF loader needs: the header, section headers and names, the symbol table,
REL relocation sections and section data as memoryviews. Every offset, index and count is
checked against the file: malformed input raises ``ObjectError`` naming the file, section,
symbol and offset — never ``struct.error``/``IndexError``, and no loop depends on a count
that was not first bounded by the file size.
"""
from __future__ import annotations

import mmap
import os
import struct
TYPE_CHECKING = False  # typing costs ≈3 ms of start-up; type checkers take this as True
if TYPE_CHECKING:  # pragma: no cover
    from typing import Iterator

from .errors import ObjectError

# section types
SHT_NULL, SHT_PROGBITS, SHT_SYMTAB, SHT_STRTAB, SHT_RELA, SHT_HASH, SHT_DYNAMIC, SHT_NOTE, \
    SHT_NOBITS, SHT_REL = range(10)
SHT_SYMTAB_SHNDX = 18
SHT_LLVM_ADDRSIG = 0x6FFF4C03

# section flags
SHF_WRITE, SHF_ALLOC, SHF_EXECINSTR = 1, 2, 4

# symbol binding / type
STB_LOCAL, STB_GLOBAL, STB_WEAK = 0, 1, 2
STT_NOTYPE, STT_OBJECT, STT_FUNC, STT_SECTION, STT_FILE = 0, 1, 2, 3, 4
STV_DEFAULT, STV_INTERNAL, STV_HIDDEN, STV_PROTECTED = 0, 1, 2, 3

# special section indexes
SHN_UNDEF, SHN_LORESERVE, SHN_ABS, SHN_COMMON, SHN_XINDEX = 0, 0xFF00, 0xFFF1, 0xFFF2, 0xFFFF

EM_BPF = 247

# BPF relocation types
R_BPF_NONE = 0
R_BPF_64_64 = 1
R_BPF_64_ABS64 = 2
R_BPF_64_ABS32 = 3
R_BPF_64_NODYLD32 = 4
R_BPF_64_32 = 10
RELOC_NAMES = {0: "R_BPF_NONE", 1: "R_BPF_64_64", 2: "R_BPF_64_ABS64", 3: "R_BPF_64_ABS32",
               4: "R_BPF_64_NODYLD32", 10: "R_BPF_64_32"}

_EHDR = struct.Struct("<16sHHIQQQIHHHHHH")
_SHDR = struct.Struct("<IIQQQQIIQQ")
_SYM = struct.Struct("<IBBHQQ")
_REL = struct.Struct("<QQ")

# Sanity limits: far above anything clang produces, far below what would take long to walk.
MAX_SECTIONS = 1 << 16
MAX_SYMBOLS = 1 << 22


class Section:
    """One section header. ``data()`` returns its bytes (a memoryview into the file)."""

    __slots__ = ("elf", "index", "name", "type", "flags", "offset", "size", "link", "info",
                 "addralign", "entsize", "name_off")

    def __init__(self, elf: "ELFFile", index: int, fields: tuple) -> None:
        self.elf = elf
        self.index = index
        (self.name_off, self.type, self.flags, _addr, self.offset, self.size, self.link,
         self.info, self.addralign, self.entsize) = fields
        self.name = ""

    @property
    def is_exec(self) -> bool:
        return self.type == SHT_PROGBITS and bool(self.flags & SHF_EXECINSTR)

    def data(self) -> memoryview:
        """The section's bytes; empty for SHT_NOBITS (use ``size`` for .bss)."""
        if self.type == SHT_NOBITS or self.type == SHT_NULL:
            return memoryview(b"")
        return self.elf._view[self.offset:self.offset + self.size]

    def __repr__(self) -> str:
        return f"<Section [{self.index}] {self.name!r} type {self.type} size {self.size}>"


class Symbol:
    """One symbol table entry."""

    __slots__ = ("index", "name", "value", "size", "bind", "type", "other", "shndx")

    def __init__(self, index: int, name: str, info: int, other: int, shndx: int, value: int,
                 size: int) -> None:
        self.index, self.name, self.value, self.size = index, name, value, size
        self.bind, self.type, self.other, self.shndx = info >> 4, info & 0xF, other, shndx

    @property
    def visibility(self) -> int:
        return self.other & 3

    def __repr__(self) -> str:
        return (f"<Symbol [{self.index}] {self.name!r} bind {self.bind} type {self.type} "
                f"shndx {self.shndx} value {self.value:#x} size {self.size}>")


class Relocation:
    """One REL entry: ``offset`` in the target section, ``type`` (R_BPF_*), ``symbol``."""

    __slots__ = ("offset", "type", "symbol")

    def __init__(self, offset: int, type: int, symbol: Symbol) -> None:
        self.offset, self.type, self.symbol = offset, type, symbol

    def __repr__(self) -> str:
        return (f"<Rel {RELOC_NAMES.get(self.type, self.type)} at {self.offset:#x} "
                f"-> {self.symbol.name!r}>")


class ELFFile:
    """A parsed ELF64 LE object. ``ELFFile(data, name)`` or ``ELFFile.open(path)``."""

    def __init__(self, data: bytes | bytearray | memoryview | mmap.mmap, name: str = "<bytes>",
                 _mm: mmap.mmap | None = None) -> None:
        self.name = name
        self._mm = _mm
        self._view = memoryview(data)
        if self._view.ndim != 1 or self._view.itemsize != 1:
            self._view = self._view.cast("B")
        self.size = len(self._view)
        self._symbols: list[Symbol] | None = None
        self._symtab: Section | None = None
        self._rels: dict[int, list[Relocation]] | None = None
        self._rel_index: dict[int, list[Section]] = {}
        self.sections: list[Section] = []
        self._by_name: dict[str, Section] = {}
        self._parse()

    # -- construction -----------------------------------------------------------------
    @classmethod
    def open(cls, path: str | os.PathLike) -> "ELFFile":
        path = os.fspath(path)
        if "\0" in (path if isinstance(path, str) else path.decode("latin-1")):
            raise ObjectError("path contains a NUL byte", file=repr(path))
        try:
            with open(path, "rb") as f:
                size = os.fstat(f.fileno()).st_size
                if size == 0:
                    raise ObjectError("empty file, not an ELF object", file=path)
                mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        except OSError as e:
            raise ObjectError(f"cannot read: {e.strerror or e}", file=path) from e
        try:
            return cls(mm, path, _mm=mm)
        except BaseException:
            _close_mm(mm)
            raise

    def close(self) -> None:
        """Release the mapping (views handed out earlier keep it alive until dropped)."""
        try:
            self._view.release()
        except BufferError:
            pass
        if self._mm is not None:
            mm, self._mm = self._mm, None
            _close_mm(mm)

    def __enter__(self) -> "ELFFile":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def error(self, msg: str, *, section: str | Section | None = None,
              symbol: str | None = None, offset: int | None = None) -> ObjectError:
        if isinstance(section, Section):
            section = section.name or f"#{section.index}"
        return ObjectError(msg, file=self.name, section=section, symbol=symbol, offset=offset)

    # -- header and sections -------------------------------------------------------------
    def _parse(self) -> None:
        v = self._view
        if self.size < _EHDR.size:
            if bytes(v[:4]) != b"\x7fELF"[:min(4, self.size)] or self.size < 4:
                raise self.error("not an ELF file (bad magic)", offset=0)
            raise self.error(f"truncated ELF header ({self.size} bytes, need {_EHDR.size})",
                             offset=0)
        (ident, e_type, machine, _ver, _entry, _phoff, shoff, _flags, ehsize, _phentsize,
         _phnum, shentsize, shnum, shstrndx) = _EHDR.unpack_from(v, 0)
        if ident[:4] != b"\x7fELF":
            raise self.error("not an ELF file (bad magic)", offset=0)
        if ident[4] != 2:
            raise self.error("not a 64-bit ELF object (BPF objects are ELF64)", offset=4)
        if ident[5] != 1:
            raise self.error("not a little-endian ELF object (big-endian bpfeb objects are "
                             "not supported; build with -target bpfel or -target bpf on x86)",
                             offset=5)
        if machine != EM_BPF:
            raise self.error(f"not a BPF object (e_machine {machine}, expected {EM_BPF}); "
                             "build it with clang -target bpf", offset=18)
        if shoff == 0:
            raise self.error("object has no section header table", offset=0x28)
        if shentsize != _SHDR.size:
            raise self.error(f"unexpected section header size {shentsize}", offset=0x3A)
        if shoff > self.size or shoff + _SHDR.size > self.size:
            raise self.error(f"section header table at {shoff:#x} is past the end of the "
                             f"file ({self.size} bytes)", offset=shoff)
        if shnum == 0:
            # extended numbering: the real count is in section 0's sh_size
            shnum = _SHDR.unpack_from(v, shoff)[5]
        if shstrndx == SHN_XINDEX:
            shstrndx = _SHDR.unpack_from(v, shoff)[6]
        if shnum > MAX_SECTIONS or shoff + shnum * _SHDR.size > self.size:
            raise self.error(f"section header table ({shnum} entries at {shoff:#x}) runs past "
                             f"the end of the file ({self.size} bytes)", offset=shoff)
        secs = [Section(self, i, _SHDR.unpack_from(v, shoff + i * _SHDR.size))
                for i in range(shnum)]
        self.sections = secs
        table = (shoff, shoff + shnum * _SHDR.size)
        spans = []
        for s in secs:
            if s.type in (SHT_NOBITS, SHT_NULL) or s.size == 0:
                continue
            end = s.offset + s.size
            if end > self.size:
                raise self.error(f"section #{s.index} data ({s.size} bytes at {s.offset:#x}) "
                                 f"runs past the end of the file ({self.size} bytes)",
                                 offset=s.offset)
            if s.offset < _EHDR.size or (s.offset < table[1] and end > table[0]):
                raise self.error(f"section #{s.index} data at {s.offset:#x} overlaps the ELF "
                                 "header or the section header table", offset=s.offset)
            spans.append((s.offset, end, s.index))
        spans.sort()
        for (a0, a1, ai), (b0, _b1, bi) in zip(spans, spans[1:]):
            if b0 < a1:
                raise self.error(f"sections #{ai} and #{bi} overlap", offset=b0)
        # section names
        if not 0 < shstrndx < shnum:
            raise self.error(f"bad section name table index {shstrndx} ({shnum} sections)",
                             offset=0x3E)
        strsec = secs[shstrndx]
        if strsec.type != SHT_STRTAB:
            raise self.error(f"section name table #{shstrndx} is not a string table",
                             offset=shoff + shstrndx * _SHDR.size)
        names = strsec.data().tobytes()
        for s in secs:
            if s.index == 0:
                continue
            s.name = self._string(names, s.name_off, f"section #{s.index} name",
                                  section=f"#{s.index}")
            self._by_name.setdefault(s.name, s)

    def _string(self, table: bytes, off: int, what: str, *, section: str | None = None,
                symbol: str | None = None) -> str:
        """NUL-terminated string at ``off`` of a string table (``table`` as bytes)."""
        n = len(table)
        if off >= n:
            if off == 0:
                return ""
            raise self.error(f"{what}: string offset {off} is outside the string table "
                             f"({n} bytes)", section=section, symbol=symbol, offset=off)
        end = table.find(b"\0", off)
        if end < 0:
            raise self.error(f"{what}: string at {off} is not NUL-terminated", section=section,
                             symbol=symbol, offset=off)
        return table[off:end].decode("utf-8", "replace")

    def section(self, index: int, *, context: str = "") -> Section:
        """Section by index, with a precise error for a bad index."""
        if not 0 <= index < len(self.sections):
            raise self.error(f"{context or 'reference to'} section index {index} out of range "
                             f"({len(self.sections)} sections)")
        return self.sections[index]

    def section_by_name(self, name: str) -> Section | None:
        return self._by_name.get(name)

    # -- symbols --------------------------------------------------------------------------
    @property
    def symtab(self) -> Section | None:
        if self._symtab is None:
            found = [s for s in self.sections if s.type == SHT_SYMTAB]
            if len(found) > 1:
                raise self.error("more than one symbol table", section=found[1])
            self._symtab = found[0] if found else None
        return self._symtab

    @property
    def symbols(self) -> list[Symbol]:
        if self._symbols is None:
            self._symbols = self._read_symbols()
        return self._symbols

    def _read_symbols(self) -> list[Symbol]:
        st = self.symtab
        if st is None:
            return []
        if st.size % _SYM.size:
            raise self.error(f"symbol table size {st.size} is not a multiple of {_SYM.size}",
                             section=st)
        count = st.size // _SYM.size
        if count > MAX_SYMBOLS:
            raise self.error(f"absurd symbol count {count}", section=st)
        if not 0 < st.link < len(self.sections) or self.sections[st.link].type != SHT_STRTAB:
            raise self.error(f"symbol table's string table index {st.link} is invalid",
                             section=st)
        strs = self.sections[st.link].data().tobytes()
        data = st.data()
        out = []
        nsec = len(self.sections)
        for i, (name_off, info, other, shndx, value, size) in enumerate(_SYM.iter_unpack(data)):
            name = self._string(strs, name_off, f"symbol #{i} name", section=st.name) \
                if name_off else ""
            sym = Symbol(i, name, info, other, shndx, value, size)
            if shndx == SHN_XINDEX:
                raise self.error("extended section indexes (SHN_XINDEX) are not supported",
                                 section=st, symbol=name or f"#{i}")
            if SHN_UNDEF < shndx < SHN_LORESERVE and shndx >= nsec:
                raise self.error(f"symbol refers to section index {shndx} out of range "
                                 f"({nsec} sections)", section=st, symbol=name or f"#{i}")
            if sym.type == STT_SECTION and not name and 0 < shndx < nsec:
                sym.name = self.sections[shndx].name
            out.append(sym)
        return out

    def symbol(self, index: int, *, section: Section | None = None) -> Symbol:
        syms = self.symbols
        if not 0 <= index < len(syms):
            raise self.error(f"symbol index {index} out of range ({len(syms)} symbols)",
                             section=section)
        return syms[index]

    # -- relocations ----------------------------------------------------------------------
    def relocations(self, target: int | Section) -> list[Relocation]:
        """All REL entries that apply to section ``target`` (by index or Section).

        Parsed on first use per target: debug sections carry most of an object's
        relocations and a loader never needs them."""
        if self._rels is None:
            self._rels = {}
            self._rel_index = self._index_rels()
        idx = target.index if isinstance(target, Section) else target
        got = self._rels.get(idx)
        if got is None:
            got = []
            for rs in self._rel_index.get(idx, ()):
                got.extend(self._read_rel(rs))
            self._rels[idx] = got
        return got

    def rel_sections(self) -> Iterator[Section]:
        return (s for s in self.sections if s.type == SHT_REL)

    def _index_rels(self) -> dict[int, list[Section]]:
        out: dict[int, list[Section]] = {}
        nsec = len(self.sections)
        for rs in self.sections:
            if rs.type == SHT_RELA:
                if 0 < rs.info < nsec and self.sections[rs.info].is_exec:
                    raise self.error("RELA relocations are not used by BPF objects",
                                     section=rs)
                continue
            if rs.type != SHT_REL:
                continue
            if not 0 < rs.info < nsec:
                raise self.error(f"relocation section applies to section index {rs.info} "
                                 f"out of range ({nsec} sections)", section=rs)
            if rs.size % _REL.size:
                raise self.error(f"relocation section size {rs.size} is not a multiple of "
                                 f"{_REL.size}", section=rs)
            out.setdefault(rs.info, []).append(rs)
        return out

    def _read_rel(self, rs: Section) -> list[Relocation]:
        tgt = self.sections[rs.info]
        if rs.link != (self.symtab.index if self.symtab else -1):
            raise self.error(f"relocation section's symbol table index {rs.link} is not "
                             "the symbol table", section=rs)
        syms = self.symbols
        nsym = len(syms)
        lst = []
        for i, (off, info) in enumerate(_REL.iter_unpack(rs.data())):
            si, rtype = info >> 32, info & 0xFFFFFFFF
            if si >= nsym:
                raise self.error(f"relocation #{i} refers to symbol index {si} out of range "
                                 f"({nsym} symbols)", section=rs, offset=off)
            if tgt.type != SHT_NOBITS and off >= tgt.size:
                raise self.error(f"relocation #{i} at {off:#x} is outside its section "
                                 f"{tgt.name!r} ({tgt.size} bytes)", section=rs,
                                 symbol=syms[si].name, offset=off)
            lst.append(Relocation(off, rtype, syms[si]))
        return lst


def _close_mm(mm: mmap.mmap) -> None:
    try:
        mm.close()
    except BufferError:
        # someone still holds a view: the mapping goes away when the last view does
        pass
