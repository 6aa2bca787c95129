""".BTF.ext: per-section function info, line info and CO-RE relocation records.

Record sizes come from the section itself; records larger than the ones we know are read
by their known prefix (newer compilers may append fields). Instruction offsets are converted
from bytes to instruction indexes. Encoders build the ``bpf_func_info``/``bpf_line_info``
arrays BPF_PROG_LOAD takes.
"""
from __future__ import annotations

import struct
TYPE_CHECKING = False  # typing costs ≈3 ms of start-up; type checkers take this as True

from ..errors import BTFError

if TYPE_CHECKING:  # pragma: no cover
    from typing import Iterable
    from .reader import BTF

_EXT_HDR = struct.Struct("<HBBI")  # magic, version, flags, hdr_len
_U32 = struct.Struct("<I")
FUNC_INFO_SIZE = 8
LINE_INFO_SIZE = 16
CORE_RELO_SIZE = 16
INSN_SIZE = 8

# enum bpf_core_relo_kind
FIELD_BYTE_OFFSET, FIELD_BYTE_SIZE, FIELD_EXISTS, FIELD_SIGNED, FIELD_LSHIFT_U64, \
    FIELD_RSHIFT_U64, TYPE_ID_LOCAL, TYPE_ID_TARGET, TYPE_EXISTS, TYPE_SIZE, \
    ENUMVAL_EXISTS, ENUMVAL_VALUE, TYPE_MATCHES = range(13)
CORE_RELO_KIND_NAMES = ("byte_off", "byte_sz", "field_exists", "signed", "lshift_u64",
                        "rshift_u64", "local_type_id", "target_type_id", "type_exists",
                        "type_size", "enumval_exists", "enumval_value", "type_matches")


class LineInfo:
    """One line-info record: instruction index, source file, line, column, source text.

    ``file_name_off``/``line_off`` are the string offsets in the object's BTF (what the
    kernel wants back in ``bpf_line_info``)."""

    __slots__ = ("insn_off", "file", "line", "col", "text", "file_name_off", "line_off")

    def __init__(self, insn_off: int, file: str, line: int, col: int, text: str,
                 file_name_off: int = 0, line_off: int = 0) -> None:
        self.insn_off, self.file, self.line, self.col, self.text = insn_off, file, line, col, text
        self.file_name_off, self.line_off = file_name_off, line_off

    @property
    def line_col(self) -> int:
        return (self.line << 10) | (self.col & 0x3FF)

    def __iter__(self):  # unpacks as (insn_off, file, line, col, text)
        return iter((self.insn_off, self.file, self.line, self.col, self.text))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, LineInfo) and tuple(self) == tuple(other) and \
            (self.file_name_off, self.line_off) == (other.file_name_off, other.line_off)

    def __repr__(self) -> str:
        return f"<LineInfo insn {self.insn_off} {self.file}:{self.line}:{self.col} {self.text!r}>"


class CoreRelo:
    """One CO-RE relocation: instruction index, local type id, access string, kind."""

    __slots__ = ("insn_off", "type_id", "access_str", "kind")

    def __init__(self, insn_off: int, type_id: int, access_str: str, kind: int) -> None:
        self.insn_off, self.type_id, self.access_str, self.kind = insn_off, type_id, access_str, kind

    @property
    def kind_name(self) -> str:
        return CORE_RELO_KIND_NAMES[self.kind] if 0 <= self.kind < 13 else str(self.kind)

    def __iter__(self):
        return iter((self.insn_off, self.type_id, self.access_str, self.kind))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CoreRelo) and tuple(self) == tuple(other)

    def __repr__(self) -> str:
        return (f"<CoreRelo insn {self.insn_off} type {self.type_id} "
                f"{self.access_str!r} {self.kind_name}>")


class BTFExt:
    """Parsed .BTF.ext: dicts from ELF section name to record lists."""

    __slots__ = ("func_info", "line_info", "core_relos", "func_info_rec_size",
                 "line_info_rec_size", "core_relo_rec_size")

    def __init__(self) -> None:
        self.func_info: dict[str, list[tuple[int, int]]] = {}
        self.line_info: dict[str, list[LineInfo]] = {}
        self.core_relos: dict[str, list[CoreRelo]] = {}
        self.func_info_rec_size = FUNC_INFO_SIZE
        self.line_info_rec_size = LINE_INFO_SIZE
        self.core_relo_rec_size = CORE_RELO_SIZE

    def __repr__(self) -> str:
        return (f"<BTFExt func_info {sum(map(len, self.func_info.values()))} "
                f"line_info {sum(map(len, self.line_info.values()))} "
                f"core_relos {sum(map(len, self.core_relos.values()))}>")


def _subsection(data: bytes, base: int, off: int, length: int, min_rec: int, what: str,
                btf: BTF) -> tuple[int, list[tuple[str, int, int]]]:
    """(record size, [(section name, offset of first record, count)])."""
    start = base + off
    end = start + length
    if length == 0:
        return min_rec, []
    if off % 4 or start < base or end > len(data):
        raise BTFError(f".BTF.ext: {what} [{off}, {off + length}) out of bounds or unaligned "
                       f"({len(data) - base} bytes after the header)")
    if length < 4:
        raise BTFError(f".BTF.ext: {what} too short for its record size")
    rec, = _U32.unpack_from(data, start)
    if rec < min_rec or rec % 4 or rec > 1024:
        raise BTFError(f".BTF.ext: {what} record size {rec} is invalid (need >= {min_rec}, "
                       "a multiple of 4)")
    p = start + 4
    out = []
    while p < end:
        if p + 8 > end:
            raise BTFError(f".BTF.ext: {what}: truncated section header at offset {p - base}")
        name_off, num = struct.unpack_from("<II", data, p)
        p += 8
        if num == 0:
            raise BTFError(f".BTF.ext: {what}: section with 0 records at offset {p - 8 - base}")
        if num > (end - p) // rec:
            raise BTFError(f".BTF.ext: {what}: {num} records of {rec} bytes run past the end")
        try:
            name = btf.string(name_off)
        except BTFError as e:
            raise BTFError(f".BTF.ext: {what}: section name: {e}") from None
        out.append((name, p, num))
        p += num * rec
    return rec, out


def _insn(off: int, what: str, sec: str) -> int:
    if off % INSN_SIZE:
        raise BTFError(f".BTF.ext: {what} in {sec!r}: instruction offset {off} is not a "
                       "multiple of 8")
    return off // INSN_SIZE


def parse_btf_ext(data: bytes | bytearray | memoryview, btf: BTF) -> BTFExt:
    """Parse a .BTF.ext section; strings are looked up in ``btf`` (the object's .BTF)."""
    data = bytes(data)
    if len(data) < 24:
        raise BTFError(f".BTF.ext: {len(data)} bytes is too short for a header")
    magic, version, _flags, hdr_len = _EXT_HDR.unpack_from(data, 0)
    if magic != 0xEB9F:
        if magic == 0x9FEB:
            raise BTFError(".BTF.ext: big-endian data is not supported")
        raise BTFError(f".BTF.ext: bad magic {magic:#06x}")
    if version != 1:
        raise BTFError(f".BTF.ext: unsupported version {version}")
    if hdr_len < 24 or hdr_len > len(data) or hdr_len % 4:
        raise BTFError(f".BTF.ext: bad header length {hdr_len}")
    fi_off, fi_len, li_off, li_len = struct.unpack_from("<IIII", data, 8)
    cr_off = cr_len = 0
    if hdr_len >= 32:
        cr_off, cr_len = struct.unpack_from("<II", data, 24)
    ext = BTFExt()
    string = btf.string

    rec, secs = _subsection(data, hdr_len, fi_off, fi_len, FUNC_INFO_SIZE, "func_info", btf)
    ext.func_info_rec_size = rec
    for name, p, num in secs:
        lst = ext.func_info.setdefault(name, [])
        for i in range(num):
            off, tid = struct.unpack_from("<II", data, p + i * rec)
            lst.append((_insn(off, "func_info", name), tid))

    rec, secs = _subsection(data, hdr_len, li_off, li_len, LINE_INFO_SIZE, "line_info", btf)
    ext.line_info_rec_size = rec
    for name, p, num in secs:
        lst2 = ext.line_info.setdefault(name, [])
        for i in range(num):
            off, file_off, line_off, line_col = struct.unpack_from("<IIII", data, p + i * rec)
            try:
                file, text = string(file_off), string(line_off)
            except BTFError as e:
                raise BTFError(f".BTF.ext: line_info in {name!r}: {e}") from None
            lst2.append(LineInfo(_insn(off, "line_info", name), file, line_col >> 10,
                                 line_col & 0x3FF, text, file_off, line_off))

    rec, secs = _subsection(data, hdr_len, cr_off, cr_len, CORE_RELO_SIZE, "core_relo", btf)
    ext.core_relo_rec_size = rec
    for name, p, num in secs:
        lst3 = ext.core_relos.setdefault(name, [])
        for i in range(num):
            off, tid, acc, kind = struct.unpack_from("<IIII", data, p + i * rec)
            try:
                access = string(acc)
            except BTFError as e:
                raise BTFError(f".BTF.ext: core_relo in {name!r}: {e}") from None
            if kind > TYPE_MATCHES:
                raise BTFError(f".BTF.ext: core_relo in {name!r}: unknown relocation kind "
                               f"{kind}")
            if tid == 0 or tid >= len(btf):
                raise BTFError(f".BTF.ext: core_relo in {name!r}: type id {tid} out of range")
            lst3.append(CoreRelo(_insn(off, "core_relo", name), tid, access, kind))
    return ext


def encode_func_info(records: Iterable[tuple[int, int]]) -> bytes:
    """``bpf_func_info[]`` (insn_off in instructions, type_id) for BPF_PROG_LOAD."""
    pk = struct.Struct("<II").pack
    try:
        return b"".join(pk(off, tid) for off, tid in records)
    except struct.error as e:
        raise BTFError(f"bad func_info record: {e}") from None


def encode_line_info(records: Iterable[LineInfo]) -> bytes:
    """``bpf_line_info[]`` (insn_off, file_name_off, line_off, line_col) for BPF_PROG_LOAD."""
    pk = struct.Struct("<IIII").pack
    try:
        return b"".join(pk(r.insn_off, r.file_name_off, r.line_off, r.line_col)
                        for r in records)
    except struct.error as e:
        raise BTFError(f"bad line_info record: {e}") from None


def encode_btf_ext(ext: BTFExt, add_string) -> bytes:
    """A .BTF.ext blob for ``ext`` (instruction offsets back to bytes). ``add_string(s)`` gives
    a string's offset in the matching BTF (e.g. ``marshal.Builder.add_string``); line info
    uses its own ``file_name_off``/``line_off`` when ``add_string`` is None."""
    def sub(secs: dict, rec_size: int, enc) -> bytes:
        if not secs:
            return b""
        parts = [_U32.pack(rec_size)]
        for name, recs in secs.items():
            if not recs:
                continue
            parts.append(struct.pack("<II", add_string(name) if add_string else 0, len(recs)))
            parts.extend(enc(r) for r in recs)
        return b"".join(parts)

    fi = sub(ext.func_info, 8, lambda r: struct.pack("<II", r[0] * INSN_SIZE, r[1]))
    li = sub(ext.line_info, 16, lambda r: struct.pack(
        "<IIII", r.insn_off * INSN_SIZE,
        add_string(r.file) if add_string else r.file_name_off,
        add_string(r.text) if add_string else r.line_off, r.line_col))
    cr = sub(ext.core_relos, 16, lambda r: struct.pack(
        "<IIII", r.insn_off * INSN_SIZE, r.type_id, add_string(r.access_str) if add_string
        else 0, r.kind))
    hdr = struct.pack("<HBBIIIIIII", 0xEB9F, 1, 0, 32, 0, len(fi), len(fi), len(li),
                      len(fi) + len(li), len(cr))
    return hdr + fi + li + cr
