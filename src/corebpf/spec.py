"""ObjectSpec: a compiled BPF object read into pure data (no kernel needed).

``ObjectSpec.from_file(path)`` reads the ELF (``elf.py``), names each program by its
function and types it by its section (``sections.py``), decodes BTF-defined and legacy maps,
turns global data sections into internal maps with one ``VariableSpec`` per variable, and
classifies every relocation so that the loader only has to resolve names to fds.

Everything here is plain data: copy a spec (``spec.copy()``), adjust
``spec.maps["x"].max_entries`` or ``spec.variables["y"].value`` and load it as often as you like.
"""
from __future__ import annotations

import struct
TYPE_CHECKING = False  # typing costs ≈3 ms of start-up; type checkers take this as True
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any

from .errors import BTFError, ObjectError

# Relocation kinds (Relocation.kind)
RELO_MAP = "map"            # ld_imm64 of a map: target = map name (key of ObjectSpec.maps)
RELO_DATA = "data"          # ld_imm64 into global data: target = internal map name, offset = byte offset
RELO_CALL = "call"          # bpf-to-bpf call: target = function name, offset = insn in target
RELO_FUNC_PTR = "func_ptr"  # ld_imm64 of a function (callback): target = function, offset = insn
RELO_KCONFIG = "kconfig"    # ld_imm64 of a .kconfig extern: target = extern name
RELO_KSYM = "ksym"          # ld_imm64 of a .ksyms variable: target = extern name
RELO_KFUNC = "kfunc"        # call of a kernel function (kfunc): target = extern name

# internal map kinds (MapSpec.internal)
INTERNAL_DATA, INTERNAL_RODATA, INTERNAL_BSS, INTERNAL_KCONFIG = "data", "rodata", "bss", "kconfig"


class Relocation:
    """A reference from one instruction to something resolved at load time.

    ``insn`` is the instruction index relative to the start of the function that holds it
    (the first slot of an ld_imm64). ``kind`` is one of the ``RELO_*`` strings, ``target``
    names the map / function / extern, ``offset`` is a byte offset into the data (``data``)
    or an instruction index within the target function (``call``/``func_ptr``), else 0.
    """

    __slots__ = ("insn", "kind", "target", "offset")

    def __init__(self, insn: int, kind: str, target: str, offset: int = 0) -> None:
        self.insn, self.kind, self.target, self.offset = insn, kind, target, offset

    def __repr__(self) -> str:
        off = f"+{self.offset}" if self.offset else ""
        return f"<Relocation insn {self.insn}: {self.kind} {self.target}{off}>"

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, Relocation) and self.insn == other.insn
                and self.kind == other.kind and self.target == other.target
                and self.offset == other.offset)

    def __hash__(self) -> int:
        return hash((self.insn, self.kind, self.target, self.offset))


class ProgramSpec:
    """One function of the object: an entry program (``is_subprog`` False) or a subprogram.

    Fields:
      name            function (symbol) name; programs are named by it, as libbpf does
      section         ELF section name (``"tp/sched/sched_switch"``, ``".text"``); a
                      leading "?" is dropped (it sets ``autoload`` False), as libbpf does
      type            BPF_PROG_TYPE_* (``corebpf.uapi``); 0 if the section is unknown
      expected_attach_type  BPF_* attach type or None ("0" in libbpf terms)
      attach_to       what follows the section prefix ("sched/sched_switch"), "" if nothing
      flags           prog_flags for BPF_PROG_LOAD (BPF_F_SLEEPABLE, BPF_F_XDP_HAS_FRAGS)
      sleepable       bool, same as flags & BPF_F_SLEEPABLE
      sec_def         the matched ``sections.SectionDef`` (None if unknown): says whether
                      the attach target is a BTF id (``attach_btf``), whether expected
                      attach type is optional at load (``attach_optional``), auto-attach
      insns           bytearray of raw instructions (8 bytes each) — this function only
      section_offset  index of the function's first instruction within its section
      relocations     list[Relocation], insn relative to this function
      func_info       [(insn_off, btf type id)] from .BTF.ext, relative to this function
      line_info       [btf.ext.LineInfo] with insn_off relative to this function
      core_relos      [btf.ext.CoreRelo] with insn_off relative to this function
      license, kern_version  copied from the object
      is_subprog      True for functions in .text (called, never loaded alone)
      global_func     True for STB_GLOBAL symbols
      btf_func_id     BTF FUNC id of this function (0 if no BTF)
      autoload        False for ``SEC("?...")`` programs (libbpf: not loaded by default)
      exception_cb    name of the subprogram a BTF decl tag ``exception_callback:<name>``
                      on this function names (``__exception_cb``), or None: the linker
                      appends it even though nothing calls it, as libbpf ≥ 1.3 does
    """

    __slots__ = ("name", "section", "type", "expected_attach_type", "attach_to", "flags",
                 "sec_def", "insns", "section_offset", "relocations", "func_info",
                 "line_info", "core_relos", "license", "kern_version", "is_subprog",
                 "global_func", "btf_func_id", "autoload", "exception_cb")

    def __init__(self, name: str, section: str, insns: bytearray, *, type: int = 0,
                 expected_attach_type: int | None = None, attach_to: str = "",
                 flags: int = 0, sec_def: Any = None, section_offset: int = 0,
                 relocations: list[Relocation] | None = None,
                 func_info: list | None = None, line_info: list | None = None,
                 core_relos: list | None = None, license: str = "", kern_version: int = 0,
                 is_subprog: bool = False, global_func: bool = True,
                 btf_func_id: int = 0, autoload: bool = True) -> None:
        self.name = name
        self.autoload = autoload
        self.section = section
        self.insns = insns
        self.type = type
        self.expected_attach_type = expected_attach_type
        self.attach_to = attach_to
        self.flags = flags
        self.sec_def = sec_def
        self.section_offset = section_offset
        self.relocations = relocations if relocations is not None else []
        self.func_info = func_info if func_info is not None else []
        self.line_info = line_info if line_info is not None else []
        self.core_relos = core_relos if core_relos is not None else []
        self.license = license
        self.kern_version = kern_version
        self.is_subprog = is_subprog
        self.global_func = global_func
        self.btf_func_id = btf_func_id
        self.exception_cb: str | None = None

    @property
    def sleepable(self) -> bool:
        return bool(self.flags & (1 << 4))

    @property
    def insn_count(self) -> int:
        return len(self.insns) // 8

    @property
    def type_name(self) -> str:
        from .uapi import prog_type_name
        return prog_type_name(self.type)

    @property
    def attach_type_name(self) -> str:
        from .uapi import attach_type_name
        return attach_type_name(self.expected_attach_type)

    def copy(self) -> "ProgramSpec":
        p = ProgramSpec.__new__(ProgramSpec)
        for k in self.__slots__:
            setattr(p, k, getattr(self, k))
        p.insns = bytearray(self.insns)
        p.relocations = list(self.relocations)
        p.func_info = list(self.func_info)
        p.line_info = list(self.line_info)
        p.core_relos = list(self.core_relos)
        return p

    __copy__ = copy

    def __deepcopy__(self, memo: dict) -> "ProgramSpec":
        return self.copy()

    def __repr__(self) -> str:
        kind = "subprog" if self.is_subprog else self.type_name
        return f"<ProgramSpec {self.name!r} {self.section!r} {kind} {self.insn_count} insns>"


class MapSpec:
    """A map the object declares (``.maps``, legacy ``maps``) or needs (global data).

    Fields:
      name          key in ObjectSpec.maps: the variable name for declared maps, the ELF
                    section name for internal maps (".rodata", ".data.foo", ".kconfig")
      kernel_name   the name given to BPF_MAP_CREATE (≤15 chars; libbpf's naming for
                    internal maps: object-name prefix + section suffix)
      type, key_size, value_size, max_entries, flags, numa_node, map_extra: as in
                    BPF_MAP_CREATE (type: ``corebpf.uapi.MAP_TYPE_*``)
      key_type, value_type   BTF type ids in ``btf`` (0 if none)
      pinning       uapi.PIN_NONE / PIN_BY_NAME
      inner         MapSpec of the inner map for map-in-map types, else None
      init_slots    {index: name} initial values of prog arrays (program names) and
                    map-in-map (map names, keys of ObjectSpec.maps) from ``.maps`` relocations
      contents      bytearray initial value (key 0) of an internal map; None otherwise
      internal      None, or "data" / "rodata" / "bss" / "kconfig", or "struct_ops" for
                    a variable in ``.struct_ops``/``.struct_ops.link`` (type STRUCT_OPS,
                    value_type = the object's struct, contents = its initial bytes,
                    flags BPF_F_LINK for .link; the loader finds the kernel's struct)
      struct_ops_progs  {struct member name: program name} for struct_ops maps
      freeze        True when the loader must freeze the map after filling it (.rodata, .kconfig)
      section       ELF section the map comes from
      section_offset offset of the map's symbol within ``section`` (0 for internal maps)
      max_entries_default_cpus  True when max_entries was 0 on a PERF_EVENT_ARRAY: the
                    loader sets it to the number of possible CPUs (as libbpf does)
      btf           the object BTF (shared, not copied)
    """

    __slots__ = ("name", "kernel_name", "type", "key_size", "value_size", "max_entries",
                 "flags", "numa_node", "map_extra", "key_type", "value_type", "pinning",
                 "inner", "init_slots", "contents", "internal", "freeze", "section",
                 "section_offset", "max_entries_default_cpus", "btf", "struct_ops_progs")

    def __init__(self, name: str, type: int = 0, key_size: int = 0, value_size: int = 0,
                 max_entries: int = 0, flags: int = 0, *, kernel_name: str | None = None,
                 numa_node: int = 0, map_extra: int = 0, key_type: int = 0,
                 value_type: int = 0, pinning: int = 0, inner: "MapSpec | None" = None,
                 init_slots: dict[int, str] | None = None,
                 contents: bytearray | None = None, internal: str | None = None,
                 freeze: bool = False, section: str = "", section_offset: int = 0,
                 max_entries_default_cpus: bool = False, btf: Any = None) -> None:
        self.name = name
        self.kernel_name = kernel_name if kernel_name is not None else name[:15]
        self.type = type
        self.key_size = key_size
        self.value_size = value_size
        self.max_entries = max_entries
        self.flags = flags
        self.numa_node = numa_node
        self.map_extra = map_extra
        self.key_type = key_type
        self.value_type = value_type
        self.pinning = pinning
        self.inner = inner
        self.init_slots = init_slots if init_slots is not None else {}
        self.contents = contents
        self.internal = internal
        self.freeze = freeze
        self.section = section
        self.section_offset = section_offset
        self.max_entries_default_cpus = max_entries_default_cpus
        self.btf = btf
        self.struct_ops_progs: dict[str, str] = {}

    @property
    def type_name(self) -> str:
        from .uapi import map_type_name
        return map_type_name(self.type)

    def copy(self) -> "MapSpec":
        m = MapSpec.__new__(MapSpec)
        for k in self.__slots__:
            setattr(m, k, getattr(self, k))
        m.inner = self.inner.copy() if self.inner is not None else None
        m.init_slots = dict(self.init_slots)
        m.struct_ops_progs = dict(self.struct_ops_progs)
        m.contents = bytearray(self.contents) if self.contents is not None else None
        return m

    __copy__ = copy

    def __deepcopy__(self, memo: dict) -> "MapSpec":
        return self.copy()

    def __repr__(self) -> str:
        return (f"<MapSpec {self.name!r} {self.type_name} key {self.key_size} "
                f"value {self.value_size} max_entries {self.max_entries}>")


class VariableSpec:
    """A global variable living in an internal map (``.data``, ``.rodata``, ``.bss``, ...).

    ``value`` reads/writes the bytes in the owning map's ``contents``: set it before load.
    ``section`` is the internal map name (key of ObjectSpec.maps), ``offset``/``size`` place
    it in the map value, ``type_id`` is its BTF type (the VAR's type, 0 without BTF).
    """

    __slots__ = ("name", "section", "offset", "size", "type_id", "map", "global_var")

    def __init__(self, name: str, section: str, offset: int, size: int, type_id: int,
                 map: MapSpec, global_var: bool = True) -> None:
        self.name, self.section, self.offset, self.size = name, section, offset, size
        self.type_id, self.map, self.global_var = type_id, map, global_var

    @property
    def readonly(self) -> bool:
        return bool(self.map.freeze)

    @property
    def value(self) -> bytes:
        c = self.map.contents
        return bytes(c[self.offset:self.offset + self.size]) if c is not None else b""

    @value.setter
    def value(self, data: bytes | bytearray | memoryview | int) -> None:
        if isinstance(data, int):
            data = data.to_bytes(self.size, "little", signed=data < 0)
        data = bytes(data)
        if len(data) != self.size:
            raise ObjectError(f"value of {len(data)} bytes for a variable of {self.size} bytes",
                              section=self.section, symbol=self.name)
        if self.map.contents is None:
            raise ObjectError("variable has no initial contents", section=self.section,
                              symbol=self.name)
        self.map.contents[self.offset:self.offset + self.size] = data

    def __repr__(self) -> str:
        return f"<VariableSpec {self.name!r} {self.section}+{self.offset} size {self.size}>"


class ExternSpec:
    """An ``extern`` the loader resolves: ``kind`` "kconfig", "ksym" or "kfunc".

    ``type_id`` is the BTF VAR (kconfig/ksym) or FUNC (kfunc) id, ``weak`` for __weak,
    ``typeless`` for ``extern const void x __ksym``; for kconfig, ``offset``/``size`` place
    the value in the ``.kconfig`` internal map and ``kconfig_type`` is one of "bool",
    "tristate", "char", "int" (``signed`` tells), "char_array", "unknown".
    """

    __slots__ = ("name", "kind", "type_id", "weak", "typeless", "offset", "size",
                 "kconfig_type", "signed", "symbol_index", "align")

    def __init__(self, name: str, kind: str, type_id: int = 0, weak: bool = False,
                 typeless: bool = False, offset: int = 0, size: int = 0,
                 kconfig_type: str = "", signed: bool = False, symbol_index: int = 0) -> None:
        self.name, self.kind, self.type_id, self.weak = name, kind, type_id, weak
        self.typeless, self.offset, self.size = typeless, offset, size
        self.kconfig_type, self.signed, self.symbol_index = kconfig_type, signed, symbol_index
        self.align = 1

    def copy(self) -> "ExternSpec":
        e = ExternSpec.__new__(ExternSpec)
        for k in self.__slots__:
            setattr(e, k, getattr(self, k))
        return e

    def __repr__(self) -> str:
        w = " weak" if self.weak else ""
        return f"<ExternSpec {self.kind} {self.name!r}{w}>"


class ObjectSpec:
    """A whole object: ``programs`` (entry programs), ``functions`` (every function incl.
    subprograms, by name), ``maps``, ``variables``, ``externs``, ``btf``/``btf_ext``,
    ``license``, ``kern_version``, ``name`` (libbpf's object name), ``path``."""

    __slots__ = ("path", "name", "programs", "functions", "maps", "variables", "externs",
                 "btf", "btf_ext", "license", "kern_version", "datasec_sizes",
                 "datasec_offsets", "hidden_functions", "hidden_variables")

    def __init__(self, path: str = "", name: str = "") -> None:
        self.path = path
        self.name = name
        self.programs: dict[str, ProgramSpec] = {}
        self.functions: dict[str, ProgramSpec] = {}
        self.maps: dict[str, MapSpec] = {}
        self.variables: dict[str, VariableSpec] = {}
        self.externs: dict[str, ExternSpec] = {}
        self.btf: Any = None
        self.btf_ext: Any = None
        self.license = ""
        self.kern_version = 0
        # For fixing up the object BTF before loading it (clang leaves DATASEC sizes and
        # global variable offsets at 0): every DATASEC with an ELF section -> section size,
        # and -> {VAR name: offset in the section} from the symbol table (.kconfig: the
        # layout corebpf chose, as libbpf does)
        self.datasec_sizes: dict[str, int] = {}
        self.datasec_offsets: dict[str, dict[str, int]] = {}
        # global/weak symbols of hidden or internal visibility (``__hidden``): libbpf makes
        # them static in the loaded BTF
        self.hidden_functions: frozenset[str] = frozenset()
        self.hidden_variables: frozenset[str] = frozenset()

    @classmethod
    def from_file(cls, path: str) -> "ObjectSpec":
        """Read a compiled BPF object (``clang -target bpf`` output)."""
        from .elf import ELFFile
        with ELFFile.open(path) as elf:
            return _build(elf, str(path), _object_name(str(path)))

    @classmethod
    def from_bytes(cls, data: bytes, name: str = "object") -> "ObjectSpec":
        """Read an object held in memory; ``name`` names it in errors and map names."""
        from .elf import ELFFile
        elf = ELFFile(bytes(data), name)
        return _build(elf, name, _object_name(name))

    def copy(self) -> "ObjectSpec":
        """A deep copy sharing only the (read-only) BTF."""
        o = ObjectSpec(self.path, self.name)
        o.btf, o.btf_ext = self.btf, self.btf_ext
        o.license, o.kern_version = self.license, self.kern_version
        o.datasec_sizes = dict(self.datasec_sizes)
        o.datasec_offsets = {k: dict(v) for k, v in self.datasec_offsets.items()}
        o.hidden_functions, o.hidden_variables = self.hidden_functions, self.hidden_variables
        o.externs = {k: e.copy() for k, e in self.externs.items()}
        o.functions = {k: f.copy() for k, f in self.functions.items()}
        o.programs = {k: o.functions[k] for k in self.programs}
        o.maps = {k: m.copy() for k, m in self.maps.items()}
        for k, v in self.variables.items():
            o.variables[k] = VariableSpec(v.name, v.section, v.offset, v.size, v.type_id,
                                          o.maps[v.section], v.global_var)
        return o

    __copy__ = copy

    def __deepcopy__(self, memo: dict) -> "ObjectSpec":
        return self.copy()

    def datasec_layout(self, section: str) -> list[tuple[int, int, int]]:
        """``[(VAR type id, offset, size)]`` of a DATASEC as libbpf fixes it up before loading
        the object BTF (clang leaves global variables at offset 0), sorted by offset."""
        out: list[tuple[int, int, int]] = []
        btf = self.btf
        if btf is None:
            return out
        from .btf import types as T
        ids = btf.find(section, T.DATASEC)
        if not ids:
            return out
        offs = self.datasec_offsets.get(section, {})
        for vi in btf[ids[0]].vars:
            name = btf[vi.type].name
            off = offs.get(name, vi.offset)
            var = self.variables.get(name)
            if var is not None and var.section == section:
                off = var.offset        # follows a user's change to the spec
            out.append((vi.type, off, vi.size))
        out.sort(key=lambda x: x[1])
        return out

    def load(self, *args: Any, **kwargs: Any) -> Any:
        """Load into the kernel: see ``corebpf.object.load``."""
        from .object import load
        return load(self, *args, **kwargs)

    def __repr__(self) -> str:
        return (f"<ObjectSpec {self.name!r} {len(self.programs)} programs, "
                f"{len(self.maps)} maps, {len(self.variables)} variables>")


def _object_name(path: str) -> str:
    """libbpf's object name: the file's base name cut to 15 chars, then at its first dot."""
    base = path.rsplit("/", 1)[-1][:15]
    return base.split(".", 1)[0]


def _build(elf: Any, path: str, name: str) -> ObjectSpec:
    spec = ObjectSpec(path, name)
    _Builder(elf, spec).run()
    return spec



# ------------------------------------------------------------------------------ building
_LD_IMM64 = 0x18
_CALL = 0x85
_PSEUDO_CALL = 1
_INSN = struct.Struct("<BBhi")
_IMM = struct.Struct("<i")
_U32 = struct.Struct("<I")
_MAP_TYPE_ARENA = 33
ARENA_SECTION = ".addr_space.1"   # clang's section for __attribute__((address_space(1)))
_MAX_FIELD_DEPTH = 32
# Largest global-data section we materialize (the kernel refuses array values above
# KMALLOC_MAX_SIZE, a few MiB; .bss sizes are not bounded by the file, so check them)
MAX_DATA_SECTION = 1 << 28

# BTF map definition fields that hold an integer (``__uint(name, value)``)
_INT_FIELDS = ("type", "max_entries", "map_flags", "numa_node", "key_size", "value_size",
               "pinning", "map_extra")


def _elf() -> Any:
    from . import elf
    return elf


def _is_data_section(name: str) -> str | None:
    """Internal-map kind of a global data section name, or None."""
    for base, kind in ((".data", INTERNAL_DATA), (".rodata", INTERNAL_RODATA),
                       (".bss", INTERNAL_BSS)):
        if name == base or name.startswith(base + "."):
            return kind
    return None


def internal_map_name(obj_name: str, section: str) -> str:
    """The kernel-visible name libbpf gives an internal map (≤ 15 chars).

    Up to 8 chars of the object name then the section name (``myobj.rodata``); custom
    sections with a second dot (``.data.foo``) keep the section name alone. Characters
    the kernel refuses in map names become ``_``.
    """
    sfx_len = min(max(7, len(section)), 15)
    pfx_len = 0 if "." in section[1:] else min(16 - sfx_len - 1, len(obj_name))
    name = (obj_name[:pfx_len] + section[:sfx_len])[:15]
    return "".join(c if (c.isascii() and c.isalnum()) or c in "_." else "_" for c in name)


def _ringbuf_size(n: int) -> int:
    """libbpf rounds ring buffer sizes up to a power-of-two number of pages; 0 stays 0
    (libbpf ≥ 1.0: a size the user forgot is refused by the kernel, not made one page)."""
    import mmap
    page = mmap.PAGESIZE
    if n <= 0:
        return 0
    mul = page
    while mul < n and mul < (1 << 32):
        mul <<= 1
    return mul if mul >= n else n


def _rebase(items: list, start: int, end: int, get: Any) -> list:
    """Entries of ``items`` whose insn offset lies in [start, end), shifted to 0.

    ``items`` are sorted by offset (as clang emits them; checked by the caller), so each
    function's slice is found by bisection instead of a scan per function."""
    from bisect import bisect_left
    keys = [get(x) for x in items] if not isinstance(items, _Sorted) else items.keys
    lo = bisect_left(keys, start)
    hi = bisect_left(keys, end, lo)
    return [_shift(items[i], keys[i] - start) for i in range(lo, hi)]


def _offset_of(item: Any) -> int:
    return item[0] if isinstance(item, tuple) and not hasattr(item, "insn_off") \
        else item.insn_off


class _Sorted(list):
    """A list of ext records sorted by instruction offset, with the offsets alongside."""

    def __init__(self, items: list, get: Any) -> None:
        pairs = sorted(((get(x), i) for i, x in enumerate(items)))
        super().__init__(items[i] for _, i in pairs)
        self.keys = [k for k, _ in pairs]


def _shift(item: Any, off: int) -> Any:
    if _offset_of(item) == off:
        return item    # records are not modified after parsing: share them
    if isinstance(item, tuple) and not hasattr(item, "_replace"):
        return (off,) + tuple(item[1:])
    if hasattr(item, "_replace"):
        return item._replace(insn_off=off)
    import copy
    c = copy.copy(item)
    c.insn_off = off
    return c


class _Func:
    """A function found in an executable section, before it becomes a ProgramSpec."""

    __slots__ = ("sym", "section", "start", "end", "name")

    def __init__(self, sym: Any, section: Any, start: int, end: int) -> None:
        self.sym, self.section, self.start, self.end = sym, section, start, end
        self.name = sym.name   # key in ObjectSpec.functions


class _Builder:
    def __init__(self, elf: Any, spec: ObjectSpec) -> None:
        self.elf = elf
        self.spec = spec
        self.file = spec.path or elf.name
        self.btf: Any = None
        self.text_idx = -1
        self.maps_idx = -1          # .maps
        self.legacy_idx = -1        # maps
        self.arena_idx = -1         # .addr_space.1: global __arena variables
        self.arena_map: MapSpec | None = None
        self.hidden_vars: set[tuple[int, str]] = set()  # (section idx, name), __hidden
        self.data_secs: dict[int, str] = {}     # section index -> internal kind
        self.exec_secs: list[Any] = []
        self.funcs_by_sec: dict[int, list[_Func]] = {}
        self.map_at: dict[tuple[int, int], str] = {}   # (section idx, offset) -> map name
        self.sym_value: dict[tuple[int, str], int] = {}
        self._map_sizes: dict[str, int] = {}
        self._values_off: dict[str, int] = {}
        self.st_ops_secs: list[Any] = []
        self.opt_st_ops_secs: list[Any] = []   # SEC("?.struct_ops[.link]")

    def err(self, msg: str, *, section: Any = None, symbol: str | None = None,
            offset: int | None = None) -> ObjectError:
        if section is not None and not isinstance(section, str):
            section = section.name or f"#{section.index}"
        return ObjectError(msg, file=self.file, section=section, symbol=symbol, offset=offset)

    # -- driver ---------------------------------------------------------------------------
    def run(self) -> None:
        from . import elf as E
        elf, spec = self.elf, self.spec
        for s in elf.sections:
            n = s.name
            if s.index == 0:
                continue
            if n == "license":
                raw = bytes(s.data())
                spec.license = raw.split(b"\0", 1)[0][:63].decode("utf-8", "replace")
            elif n == "version":
                if s.size != 4:
                    raise self.err(f"invalid kernel version section size {s.size} (want 4)",
                                   section=s)
                spec.kern_version = _U32.unpack(bytes(s.data()))[0]
            elif n == ".maps":
                self.maps_idx = s.index
            elif (n == ".struct_ops" or n.startswith(".struct_ops.")) and \
                    s.type == E.SHT_PROGBITS and s.size:
                self.st_ops_secs.append(s)
            elif (n == "?.struct_ops" or n.startswith("?.struct_ops.")) and \
                    s.type == E.SHT_PROGBITS and s.size:
                self.opt_st_ops_secs.append(s)
            elif n == "maps":
                self.legacy_idx = s.index
            elif n == ARENA_SECTION and s.size:
                self.arena_idx = s.index
            elif s.is_exec and s.size > 0:
                if n == ".text":
                    self.text_idx = s.index
                self.exec_secs.append(s)
            elif s.type == E.SHT_PROGBITS and s.size > 0 and not (s.flags & E.SHF_EXECINSTR):
                kind = _is_data_section(n)
                if kind in (INTERNAL_DATA, INTERNAL_RODATA):
                    self.data_secs[s.index] = kind
            elif s.type == E.SHT_NOBITS and _is_data_section(n) == INTERNAL_BSS and s.size:
                self.data_secs[s.index] = INTERNAL_BSS
        self._load_btf()
        syms = elf.symbols
        hidden_f: set[str] = set()
        hidden_v: set[str] = set()
        for sym in syms:
            hidden = sym.other & 3 in (E.STV_INTERNAL, E.STV_HIDDEN)
            if hidden and sym.bind in (E.STB_GLOBAL, E.STB_WEAK) and sym.name:
                if sym.type == E.STT_FUNC:
                    hidden_f.add(sym.name)
                elif sym.type == E.STT_OBJECT:
                    hidden_v.add(sym.name)
            if sym.type in (E.STT_OBJECT, E.STT_FUNC, E.STT_NOTYPE) and sym.name \
                    and 0 < sym.shndx < E.SHN_LORESERVE:
                self.sym_value.setdefault((sym.shndx, sym.name), sym.value)
                if hidden and sym.shndx in self.data_secs:
                    self.hidden_vars.add((sym.shndx, sym.name))
        self.spec.hidden_functions = frozenset(hidden_f)
        self.spec.hidden_variables = frozenset(hidden_v)
        self._collect_functions()
        self._collect_externs()
        if self.maps_idx >= 0:
            self._btf_maps()
        if self.legacy_idx >= 0:
            self._legacy_maps()
        self._internal_maps()
        self._arena_data()
        self._kconfig_map()
        for sec in self.st_ops_secs:
            self._struct_ops(sec)
        if self.opt_st_ops_secs:
            self._optional_struct_ops()
        self._program_relocations()
        self._map_relocations()
        self._ext_info()
        self._datasec_fixups()

    # -- BTF ------------------------------------------------------------------------------
    def _load_btf(self) -> None:
        s = self.elf.section_by_name(".BTF")
        if s is None:
            return
        from .btf import BTF
        try:
            self.btf = BTF.from_bytes(bytes(s.data()), name=f"{self.file} .BTF")
        except BTFError as e:
            raise self.err(f"invalid BTF: {e}", section=s) from None
        self.spec.btf = self.btf

    def _datasec(self, name: str) -> Any:
        """The DATASEC type named ``name`` (or None)."""
        if self.btf is None:
            return None
        from .btf import types as T
        try:
            ids = self.btf.find(name, T.DATASEC)
        except BTFError as e:
            raise self.err(f"invalid BTF: {e}", section=".BTF") from None
        return self.btf[ids[0]] if ids else None

    def _btf(self, tid: int, what: str, section: str = ".BTF") -> Any:
        try:
            return self.btf[tid]
        except BTFError as e:
            raise self.err(f"{what}: {e}", section=section) from None

    # -- functions ------------------------------------------------------------------------
    def _collect_functions(self) -> None:
        from . import elf as E
        from . import sections
        spec, elf = self.spec, self.elf
        exec_idx = {s.index: s for s in self.exec_secs}
        for sym in elf.symbols:
            if sym.type != E.STT_FUNC or sym.shndx not in exec_idx:
                continue
            sec = exec_idx[sym.shndx]
            if not sym.name:
                raise self.err(f"function symbol #{sym.index} has no name", section=sec)
            if sym.value % 8 or sym.size % 8:
                raise self.err(f"function at {sym.value:#x} of {sym.size} bytes is not "
                               "instruction aligned", section=sec, symbol=sym.name,
                               offset=sym.value)
            if sym.value + sym.size > sec.size:
                raise self.err(f"function ({sym.size} bytes at {sym.value:#x}) runs past the "
                               f"end of its section ({sec.size} bytes)", section=sec,
                               symbol=sym.name, offset=sym.value)
            if sym.size == 0:
                continue
            fname = sym.name
            if fname in spec.functions:
                # statically linked objects (bpftool gen object) may hold several static
                # subprograms of one name, one per source file: keep them apart
                if sym.bind != E.STB_LOCAL or sec.index != self.text_idx:
                    raise self.err("duplicate function name", section=sec, symbol=sym.name)
                fname = f"{sym.name}#{sym.value // 8}"
            if sec.index != self.text_idx and sym.bind == E.STB_LOCAL:
                raise self.err("static entry programs are not supported (libbpf refuses "
                               "them too): drop 'static' or move it to .text", section=sec,
                               symbol=sym.name)
            start, end = sym.value // 8, (sym.value + sym.size) // 8
            self.funcs_by_sec.setdefault(sec.index, []).append(_Func(sym, sec, start, end))
            self.funcs_by_sec[sec.index][-1].name = fname
            insns = bytearray(sec.data()[sym.value:sym.value + sym.size])
            is_sub = sec.index == self.text_idx
            # libbpf drops the "?" of SEC("?...") (= do not autoload) from the name
            p = ProgramSpec(fname, sec.name.removeprefix("?"), insns, section_offset=start,
                            license=spec.license, kern_version=spec.kern_version,
                            is_subprog=is_sub, global_func=sym.bind != E.STB_LOCAL)
            if not is_sub:
                p.autoload = not sec.name.startswith("?")
                sd, target = sections.describe(p.section)
                if sd is not None:
                    p.sec_def = sd
                    p.type = sd.prog_type
                    p.expected_attach_type = sd.attach_type
                    p.attach_to = target
                    p.flags = sd.prog_flags()
            spec.functions[fname] = p
            if not is_sub:
                spec.programs[fname] = p
        for idx, fl in self.funcs_by_sec.items():
            fl.sort(key=lambda f: f.start)
            for a, b in zip(fl, fl[1:]):
                if b.start < a.end:
                    raise self.err(f"functions {a.sym.name!r} and {b.sym.name!r} overlap",
                                   section=exec_idx[idx], symbol=b.sym.name,
                                   offset=b.start * 8)

    def _func_at(self, sec_idx: int, insn: int) -> _Func | None:
        fl = self.funcs_by_sec.get(sec_idx)
        if not fl:
            return None
        lo, hi = 0, len(fl)
        while lo < hi:
            mid = (lo + hi) // 2
            if fl[mid].start <= insn:
                lo = mid + 1
            else:
                hi = mid
        if lo and fl[lo - 1].start <= insn < fl[lo - 1].end:
            return fl[lo - 1]
        return None

    # -- maps -----------------------------------------------------------------------------
    def _btf_maps(self) -> None:
        sec = self.elf.sections[self.maps_idx]
        ds = self._datasec(".maps")
        if ds is None:
            if self.btf is None:
                raise self.err("BTF-defined maps need BTF: build with clang -g", section=sec)
            raise self.err("BTF has no DATASEC for .maps", section=sec)
        for vi in ds.vars:
            var = self._btf(vi.type, ".maps variable")
            from .btf import types as T
            if var.kind != T.VAR:
                raise self.err(f"DATASEC entry [{vi.type}] is {var.kind_name}, not a VAR",
                               section=sec)
            name = var.name
            off = self.sym_value.get((self.maps_idx, name), vi.offset)
            size = vi.size
            if off + size > sec.size:
                raise self.err(f"map definition ({size} bytes at {off:#x}) runs past the end "
                               "of the section", section=sec, symbol=name, offset=off)
            m = self._parse_map_def(name, var.type, sec, inner=False)
            m.section, m.section_offset = ".maps", off
            if name in self.spec.maps:
                raise self.err("duplicate map name", section=sec, symbol=name)
            self.spec.maps[name] = m
            self.map_at[(self.maps_idx, off)] = name
            self._map_sizes[name] = size

    def _field_int(self, tid: int, map_name: str, field: str) -> int:
        from .btf import types as T
        btf = self.btf
        t = self._btf(btf.skip_mods(tid), f"map {map_name!r} field {field!r}")
        if t.kind == T.PTR:
            arr = self._btf(btf.skip_mods(t.type), f"map {map_name!r} field {field!r}")
            if arr.kind != T.ARRAY:
                raise self.err(f"field {field!r} should be __uint() (pointer to array), "
                               f"points to {arr.kind_name}", section=".maps", symbol=map_name)
            return arr.nelems
        if t.kind in (T.ENUM, T.ENUM64) and len(t.values) == 1:
            return t.values[0].value & 0xFFFFFFFFFFFFFFFF   # __ulong()
        raise self.err(f"field {field!r} should be __uint() (pointer to array), is "
                       f"{t.kind_name}", section=".maps", symbol=map_name)

    def _parse_map_def(self, name: str, tid: int, sec: Any, inner: bool) -> MapSpec:
        from .btf import types as T
        from . import uapi as U
        btf = self.btf
        try:
            st = btf.resolve(tid)
        except BTFError as e:
            raise self.err(f"map definition: {e}", section=sec, symbol=name) from None
        if st.kind != T.STRUCT:
            raise self.err(f"map definition must be a struct, is {st.kind_name}",
                           section=sec, symbol=name)
        m = MapSpec(name, btf=btf)
        key_size = value_size = None
        for mem in st.members:
            f = mem.name
            if f in _INT_FIELDS:
                v = self._field_int(mem.type, name, f)
                if f == "type":
                    m.type = v
                elif f == "max_entries":
                    m.max_entries = v
                elif f == "map_flags":
                    m.flags = v
                elif f == "numa_node":
                    m.numa_node = v
                elif f == "key_size":
                    if key_size is not None and key_size != v:
                        raise self.err(f"key_size {v} conflicts with key type size {key_size}",
                                       section=sec, symbol=name)
                    key_size = v
                elif f == "value_size":
                    if value_size is not None and value_size != v:
                        raise self.err(f"value_size {v} conflicts with value type size "
                                       f"{value_size}", section=sec, symbol=name)
                    value_size = v
                elif f == "pinning":
                    if v not in (U.PIN_NONE, U.PIN_BY_NAME):
                        raise self.err(f"unsupported pinning {v}", section=sec, symbol=name)
                    m.pinning = v
                else:
                    m.map_extra = v
            elif f in ("key", "value"):
                t = self._btf(btf.skip_mods(mem.type), f"map {name!r} {f}")
                if t.kind != T.PTR:
                    raise self.err(f"{f} should be __type() (a pointer), is {t.kind_name}",
                                   section=sec, symbol=name)
                try:
                    sz = btf.size_of(t.type)
                except BTFError as e:
                    raise self.err(f"{f} type has no size: {e}", section=sec,
                                   symbol=name) from None
                prev = key_size if f == "key" else value_size
                if prev is not None and prev != sz:
                    raise self.err(f"{f}_size {prev} conflicts with {f} type size {sz}",
                                   section=sec, symbol=name)
                if f == "key":
                    key_size, m.key_type = sz, t.type
                else:
                    value_size, m.value_type = sz, t.type
            elif f == "values":
                if inner:
                    raise self.err("nested map-in-map definitions are not supported",
                                   section=sec, symbol=name)
                arr = self._btf(btf.skip_mods(mem.type), f"map {name!r} values")
                if arr.kind != T.ARRAY or arr.nelems:
                    raise self.err("values should be __array() (a zero-sized array)",
                                   section=sec, symbol=name)
                ptr = self._btf(btf.skip_mods(arr.type), f"map {name!r} values")
                if ptr.kind != T.PTR:
                    raise self.err("values should be an array of pointers", section=sec,
                                   symbol=name)
                target = self._btf(btf.skip_mods(ptr.type), f"map {name!r} values")
                if target.kind == T.FUNC_PROTO:
                    if m.type != U.MAP_TYPE_PROG_ARRAY:
                        raise self.err("function values are only allowed in a prog array",
                                       section=sec, symbol=name)
                elif target.kind == T.STRUCT:
                    m.inner = self._parse_map_def(name + ".inner", ptr.type, sec, inner=True)
                    m.inner.kernel_name = (name + ".inner")[:15]
                else:
                    raise self.err(f"values should point to a map definition or a function, "
                                   f"not {target.kind_name}", section=sec, symbol=name)
                self._values_off[name] = mem.bit_offset // 8
            else:
                raise self.err(f"unknown map definition field {f!r}", section=sec, symbol=name)
        if m.type in (U.MAP_TYPE_ARRAY_OF_MAPS, U.MAP_TYPE_HASH_OF_MAPS):
            if m.inner is None and not inner:
                pass  # inner map fd must then be given at load (libbpf: set_inner_map_fd)
            if value_size is None:
                value_size = 4
        if m.type == U.MAP_TYPE_PROG_ARRAY and value_size is None:
            value_size = 4
        if m.type == U.MAP_TYPE_PERF_EVENT_ARRAY:
            key_size = 4 if key_size is None else key_size
            value_size = 4 if value_size is None else value_size
            if m.max_entries == 0:
                m.max_entries_default_cpus = True
        if m.type in (U.MAP_TYPE_RINGBUF, U.MAP_TYPE_USER_RINGBUF):
            m.max_entries = _ringbuf_size(m.max_entries)
        m.key_size = key_size or 0
        m.value_size = value_size or 0
        return m

    def _legacy_maps(self) -> None:
        from . import elf as E
        sec = self.elf.sections[self.legacy_idx]
        syms = [s for s in self.elf.symbols if s.shndx == self.legacy_idx
                and s.type in (E.STT_OBJECT, E.STT_NOTYPE) and s.name
                and s.bind in (E.STB_GLOBAL, E.STB_LOCAL) and s.type != E.STT_SECTION]
        if not syms:
            return
        if sec.size % len(syms):
            raise self.err(f"section size {sec.size} is not a multiple of {len(syms)} map "
                           "definitions", section=sec)
        def_sz = sec.size // len(syms)
        if def_sz < 4:
            raise self.err(f"map definitions of {def_sz} bytes are too small", section=sec)
        data = bytes(sec.data())
        for s in sorted(syms, key=lambda s: s.value):
            if s.value % def_sz or s.value + def_sz > sec.size:
                raise self.err("map definition is not aligned to its size", section=sec,
                               symbol=s.name, offset=s.value)
            raw = data[s.value:s.value + def_sz]
            if def_sz > 20 and any(raw[20:]):
                raise self.err("map definition has non-zero fields corebpf does not know "
                               "(only type, key_size, value_size, max_entries, map_flags)",
                               section=sec, symbol=s.name, offset=s.value)
            fields = struct.unpack_from("<5I", raw.ljust(20, b"\0"))
            if s.name in self.spec.maps:
                raise self.err("duplicate map name", section=sec, symbol=s.name)
            from . import uapi as U
            m = MapSpec(s.name, *fields, section="maps", section_offset=s.value, btf=self.btf)
            if m.type == U.MAP_TYPE_PERF_EVENT_ARRAY and m.max_entries == 0:
                m.max_entries_default_cpus = True
            self.spec.maps[s.name] = m
            self.map_at[(self.legacy_idx, s.value)] = s.name

    def _internal_maps(self) -> None:
        from .btf import types as T
        from . import uapi as U
        spec = self.spec
        for idx, kind in self.data_secs.items():
            sec = self.elf.sections[idx]
            name = sec.name
            ds = self._datasec(name)
            flags = U.F_RDONLY_PROG if kind == INTERNAL_RODATA else 0
            mmapable = False
            if ds is not None:
                for vi in ds.vars:
                    v = self._btf(vi.type, f"{name} variable", name)
                    # __hidden globals count as static: libbpf makes them so in BTF before
                    # it decides (libbpf ≥ 1.2's view; the loader did the same at load)
                    if v.kind == T.VAR and v.linkage != T.LINKAGE_STATIC and \
                            (idx, v.name) not in self.hidden_vars:
                        mmapable = True
            if mmapable:
                flags |= U.F_MMAPABLE
            if sec.size > MAX_DATA_SECTION:
                raise self.err(f"section of {sec.size} bytes is too large for a map value",
                               section=sec)
            contents = bytearray(sec.size) if kind == INTERNAL_BSS else bytearray(sec.data())
            m = MapSpec(name, U.MAP_TYPE_ARRAY, 4, sec.size, 1, flags,
                        kernel_name=internal_map_name(spec.name, name),
                        value_type=ds.id if ds is not None else 0, contents=contents,
                        internal=kind, freeze=kind == INTERNAL_RODATA, section=name,
                        btf=self.btf)
            if name in spec.maps:
                raise self.err("internal map name clashes with a map", section=sec)
            spec.maps[name] = m
            spec.datasec_sizes[name] = sec.size
            self._variables(sec, m, ds)

    def _variables(self, sec: Any, m: MapSpec, ds: Any) -> None:
        from . import elf as E
        from .btf import types as T
        spec = self.spec
        if ds is not None:
            for vi in ds.vars:
                v = self._btf(vi.type, f"{sec.name} variable", sec.name)
                if v.kind != T.VAR:
                    continue
                off = vi.offset
                if v.linkage != T.LINKAGE_STATIC:
                    off = self.sym_value.get((sec.index, v.name), off)
                size = vi.size
                if off + size > sec.size:
                    raise self.err(f"variable ({size} bytes at {off:#x}) runs past the end "
                                   "of its section", section=sec, symbol=v.name, offset=off)
                spec.variables[v.name] = VariableSpec(v.name, sec.name, off, size, v.type, m,
                                                      v.linkage != T.LINKAGE_STATIC)
            return
        for s in self.elf.symbols:
            if s.shndx == sec.index and s.type == E.STT_OBJECT and s.name and s.size:
                if s.value + s.size > sec.size:
                    raise self.err(f"variable ({s.size} bytes at {s.value:#x}) runs past the "
                                   "end of its section", section=sec, symbol=s.name,
                                   offset=s.value)
                spec.variables[s.name] = VariableSpec(s.name, sec.name, s.value, s.size, 0, m,
                                                      s.bind != E.STB_LOCAL)

    # -- externs --------------------------------------------------------------------------
    def _collect_externs(self) -> None:
        from . import elf as E
        from .btf import types as T
        spec = self.spec
        undef = [s for s in self.elf.symbols if s.shndx == E.SHN_UNDEF and s.name
                 and s.bind in (E.STB_GLOBAL, E.STB_WEAK)]
        if not undef:
            return
        if self.btf is None:
            raise self.err("extern symbols need BTF: build with clang -g",
                           symbol=undef[0].name)
        kcfg_ds, ksym_ds = self._datasec(".kconfig"), self._datasec(".ksyms")
        kcfg_ids = {vi.type for vi in kcfg_ds.vars} if kcfg_ds is not None else set()
        ksym_ids = {vi.type for vi in ksym_ds.vars} if ksym_ds is not None else set()
        btf = self.btf
        for s in undef:
            try:
                cands = [i for i in btf.find(s.name)
                         if btf.kind_of(i) in (T.VAR, T.FUNC)
                         and btf[i].linkage == T.LINKAGE_EXTERN]
            except BTFError as e:
                raise self.err(f"invalid BTF: {e}", section=".BTF", symbol=s.name) from None
            if not cands:
                raise self.err("extern has no BTF VAR/FUNC (declare it __kconfig or __ksym)",
                               symbol=s.name)
            tid = cands[0]
            t = btf[tid]
            weak = s.bind == E.STB_WEAK
            if tid in kcfg_ids:
                if t.kind != T.VAR:
                    raise self.err("a .kconfig extern must be a variable", symbol=s.name)
                ktype, signed = self._kcfg_type(t.type, s.name)
                try:
                    size = btf.size_of(t.type)
                    align = btf.align_of(t.type)
                except BTFError as e:
                    raise self.err(f"kconfig extern type: {e}", symbol=s.name) from None
                ext = ExternSpec(s.name, "kconfig", tid, weak, False, 0, size, ktype, signed,
                                 s.index)
                ext.align = align
            elif tid in ksym_ids or t.kind == T.FUNC:
                if t.kind == T.FUNC:
                    ext = ExternSpec(s.name, "kfunc", tid, weak, symbol_index=s.index)
                else:
                    typeless = btf.skip_mods(t.type) == 0
                    ext = ExternSpec(s.name, "ksym", tid, weak, typeless, symbol_index=s.index)
            else:
                raise self.err("extern is neither in .kconfig nor in .ksyms", symbol=s.name)
            spec.externs[s.name] = ext

    def _kcfg_type(self, tid: int, name: str, depth: int = 0) -> tuple[str, bool]:
        from .btf import types as T
        btf = self.btf
        try:
            t = btf.resolve(tid)
        except BTFError as e:
            raise self.err(f"kconfig extern type: {e}", section=".BTF", symbol=name) from None
        if t.kind == T.INT:
            if t.encoding & T.INT_BOOL:
                if t.size == 1:
                    return "bool", False
            elif t.size == 1:
                return "char", t.signed
            elif t.size in (2, 4, 8):
                return "int", t.signed
        elif t.kind in (T.ENUM, T.ENUM64) and t.name == "libbpf_tristate":
            return "tristate", False
        elif t.kind == T.ARRAY and t.nelems and depth == 0:
            if self._kcfg_type(t.type, name, 1)[0] == "char":
                return "char_array", False
        raise self.err(f"unsupported .kconfig extern type {btf.type_name(tid)!r} (use bool, "
                       "char, an integer, enum libbpf_tristate or a char array)", symbol=name)

    def _kconfig_map(self) -> None:
        from . import uapi as U
        spec = self.spec
        kcfg = [e for e in spec.externs.values() if e.kind == "kconfig"]
        if not kcfg:
            return
        # libbpf's layout: by alignment (largest first), then size (smallest first), then name
        kcfg.sort(key=lambda e: (-e.align, e.size, e.name))
        off = 0
        for e in kcfg:
            a = max(1, e.align)
            off = (off + a - 1) // a * a
            e.offset = off
            off += e.size
        if off > MAX_DATA_SECTION:
            raise self.err(f".kconfig externs need {off} bytes, too large for a map value",
                           section=".kconfig")
        ds = self._datasec(".kconfig")
        m = MapSpec(".kconfig", U.MAP_TYPE_ARRAY, 4, off, 1, U.F_RDONLY_PROG | U.F_MMAPABLE,
                    kernel_name=internal_map_name(spec.name, ".kconfig"),
                    value_type=ds.id if ds is not None else 0, contents=bytearray(off),
                    internal=INTERNAL_KCONFIG, freeze=True, section=".kconfig", btf=self.btf)
        spec.maps[".kconfig"] = m
        spec.datasec_sizes[".kconfig"] = off

    # -- arena ----------------------------------------------------------------------------
    def _arena_data(self) -> None:
        """Global ``__arena`` variables live in ``.addr_space.1``; their initial bytes
        become the ``contents`` of the object's one BPF_MAP_TYPE_ARENA map (the loader
        copies them to the start of the arena once it is mmapped, as libbpf 1.5 does)."""
        arenas = [m for m in self.spec.maps.values() if m.type == _MAP_TYPE_ARENA]
        if len(arenas) > 1:
            raise self.err(f"map {arenas[1].name!r}: only one ARENA map per object is "
                           f"supported ({arenas[0].name!r} is one too)", section=".maps",
                           symbol=arenas[1].name)
        if self.arena_idx < 0:
            return
        sec = self.elf.sections[self.arena_idx]
        if not arenas:
            raise self.err("global __arena variables need an ARENA map declared in "
                           'SEC(".maps")', section=sec)
        m = self.arena_map = arenas[0]
        size = sec.size
        import mmap
        page = mmap.PAGESIZE  # an arena holds max_entries pages
        if (size + page - 1) // page > m.max_entries:
            raise self.err(f"ARENA map {m.name!r} ({m.max_entries} pages) is too small for "
                           f"the {size} bytes of global __arena variables", section=sec,
                           symbol=m.name)
        from . import elf as E
        m.contents = bytearray(size) if sec.type == E.SHT_NOBITS else bytearray(sec.data())

    # -- relocations ----------------------------------------------------------------------
    def _program_relocations(self) -> None:
        spec = self.spec
        for sec in self.exec_secs:
            rels = self.elf.relocations(sec)
            seen: set[tuple[str, int]] = set()
            for r in rels:
                if r.offset % 8:
                    raise self.err("relocation is not on an instruction boundary",
                                   section=sec, symbol=r.symbol.name, offset=r.offset)
                sec_insn = r.offset // 8
                f = self._func_at(sec.index, sec_insn)
                if f is None:
                    raise self.err("relocation outside any function", section=sec,
                                   symbol=r.symbol.name, offset=r.offset)
                prog = spec.functions[f.name]
                i = sec_insn - f.start
                rel = self._classify(sec, prog, i, r)
                prog.relocations.append(rel)
                seen.add((prog.name, i))
            # calls within one section may carry no relocation: record them too
            for f in self.funcs_by_sec.get(sec.index, ()):
                prog = spec.functions[f.name]
                buf = prog.insns
                for pos in range(0, len(buf), 8):
                    if buf[pos] != _CALL or buf[pos + 1] >> 4 != _PSEUDO_CALL:
                        continue
                    i = pos // 8
                    if (prog.name, i) in seen:
                        continue
                    imm = _IMM.unpack_from(buf, pos + 4)[0]
                    tgt_insn = f.start + i + imm + 1
                    t = self._func_at(sec.index, tgt_insn)
                    if t is None:
                        raise self.err(f"call at instruction {i} lands outside any function",
                                       section=sec, symbol=prog.name, offset=pos)
                    prog.relocations.append(Relocation(i, RELO_CALL, t.name,
                                                       tgt_insn - t.start))
            for f in self.funcs_by_sec.get(sec.index, ()):
                spec.functions[f.name].relocations.sort(key=lambda r: r.insn)

    def _classify(self, sec: Any, prog: ProgramSpec, i: int, r: Any) -> Relocation:
        E = _elf()
        buf = prog.insns
        pos = i * 8
        code, regs = buf[pos], buf[pos + 1]
        sym = r.symbol
        is_call = code == _CALL
        is_ld64 = code == _LD_IMM64
        if is_ld64 and pos + 16 > len(buf):
            raise self.err("ld_imm64 instruction cut off at the end of its function",
                           section=sec, symbol=prog.name, offset=pos)
        where = dict(section=sec, symbol=sym.name or prog.name, offset=r.offset)
        if sym.shndx == E.SHN_UNDEF:
            ext = self.spec.externs.get(sym.name)
            if ext is None:
                raise self.err("relocation against an unknown undefined symbol", **where)
            if is_call:
                if ext.kind != "kfunc":
                    raise self.err("call of an extern that is not a kernel function", **where)
                return Relocation(i, RELO_KFUNC, ext.name)
            if not is_ld64:
                raise self.err(f"extern referenced by instruction {code:#04x}, expected "
                               "ld_imm64 or call", **where)
            return Relocation(i, RELO_KCONFIG if ext.kind == "kconfig" else RELO_KSYM,
                              ext.name)
        if is_call and regs >> 4 == _PSEUDO_CALL:
            tsec = self.elf.sections[sym.shndx] if sym.shndx < len(self.elf.sections) else None
            if tsec is None or not tsec.is_exec:
                raise self.err("bpf-to-bpf call to a symbol outside the program text", **where)
            if sym.value % 8:
                raise self.err("call target is not instruction aligned", **where)
            imm = _IMM.unpack_from(buf, pos + 4)[0]
            tgt = sym.value // 8 + imm + 1
            t = self._func_at(sym.shndx, tgt)
            if t is None:
                raise self.err(f"call target (instruction {tgt} of {tsec.name!r}) is not in "
                               "any function", **where)
            if sym.shndx != self.text_idx:
                raise self.err(f"calls into another program's section ({tsec.name!r}) are not "
                               "supported: put shared functions in .text", **where)
            return Relocation(i, RELO_CALL, t.name, tgt - t.start)
        if not is_ld64:
            raise self.err(f"relocation on instruction {code:#04x} (expected ld_imm64 or call)",
                           **where)
        imm = _IMM.unpack_from(buf, pos + 4)[0]
        shndx = sym.shndx
        if shndx >= E.SHN_LORESERVE:
            raise self.err(f"relocation against special section index {shndx:#x}", **where)
        tsec = self.elf.sections[shndx]
        if tsec.is_exec:
            if sym.type not in (E.STT_FUNC, E.STT_SECTION) or shndx != self.text_idx:
                raise self.err("function pointer to a function outside .text", **where)
            addr = sym.value + imm
            if addr % 8:
                raise self.err("function pointer is not instruction aligned", **where)
            t = self._func_at(shndx, addr // 8)
            if t is None:
                raise self.err("function pointer target is not in any function", **where)
            return Relocation(i, RELO_FUNC_PTR, t.name, addr // 8 - t.start)
        if shndx in (self.maps_idx, self.legacy_idx):
            name = self.map_at.get((shndx, sym.value))
            if name is None:
                raise self.err(f"no map at offset {sym.value:#x} of {tsec.name!r}", **where)
            return Relocation(i, RELO_MAP, name)
        if shndx == self.arena_idx and self.arena_map is not None:
            # a global __arena variable: a pointer into the arena map's memory (libbpf
            # ≥ 1.4 turns it into a map value reference of the arena map, like .data)
            return Relocation(i, RELO_DATA, self.arena_map.name, sym.value + imm)
        if shndx in self.data_secs:
            off = sym.value + imm
            if not 0 <= off <= tsec.size:
                raise self.err(f"data reference at offset {off} is outside {tsec.name!r} "
                               f"({tsec.size} bytes)", **where)
            return Relocation(i, RELO_DATA, tsec.name, off)
        raise self.err(f"reference to section {tsec.name!r}, which is neither a map, global "
                       "data nor code", **where)

    def _optional_struct_ops(self) -> None:
        """SEC("?.struct_ops[.link]") variables are struct_ops maps libbpf (>= 1.4) does not
        create unless asked (autocreate off); corebpf leaves them out. A struct_ops program
        that only such maps use is then not loaded either (libbpf's
        bpf_object_adjust_struct_ops_autoload), instead of failing the whole object."""
        created = {p for m in self.spec.maps.values() for p in m.struct_ops_progs.values()}
        for sec in self.opt_st_ops_secs:
            for prog in self._struct_ops(sec, optional=True):
                if prog not in created:
                    self.spec.programs[prog].autoload = False

    def _struct_ops(self, sec: Any, optional: bool = False) -> set[str]:
        """struct_ops maps: one per variable of a .struct_ops* section, as libbpf makes them;
        function pointers come from the section's relocations. ``optional`` (a
        "?.struct_ops" section): the maps are only read, not added to the spec. Returns the
        names of the programs the section's maps use."""
        from . import uapi as U
        from .btf import types as T
        spec, btf = self.spec, self.btf
        used: set[str] = set()
        ds = self._datasec(sec.name)
        if ds is None:
            raise self.err("struct_ops maps need BTF (a DATASEC for the section)", section=sec)
        data = sec.data()
        mine: list[tuple[int, int, MapSpec, Any]] = []
        for vi in ds.vars:
            var = self._btf(vi.type, "struct_ops variable", sec.name)
            if var.kind != T.VAR:
                continue
            st = self._btf(btf.skip_mods(var.type), "struct_ops variable", sec.name) \
                if var.type else None
            if st is None or st.kind != T.STRUCT:
                raise self.err("struct_ops variable must be a struct", section=sec,
                               symbol=var.name)
            off = self.sym_value.get((sec.index, var.name), vi.offset)
            if off + st.size > sec.size:
                raise self.err(f"struct_ops variable ({st.size} bytes at {off:#x}) runs past "
                               "the end of its section", section=sec, symbol=var.name,
                               offset=off)
            if var.name in spec.maps:
                raise self.err("duplicate map name", section=sec, symbol=var.name)
            flags = U.F_LINK if sec.name.lstrip("?").startswith(".struct_ops.link") else 0
            m = MapSpec(var.name, U.MAP_TYPE_STRUCT_OPS, 4, st.size, 1, flags,
                        value_type=st.id, contents=bytearray(data[off:off + st.size]),
                        internal="struct_ops", section=sec.name, section_offset=off, btf=btf)
            if not optional:
                spec.maps[var.name] = m
            mine.append((off, off + st.size, m, st))
        for r in self.elf.relocations(sec):
            where = dict(section=sec, symbol=r.symbol.name, offset=r.offset)
            owner = next((x for x in mine if x[0] <= r.offset < x[1]), None)
            if owner is None:
                raise self.err("struct_ops relocation outside any struct_ops variable", **where)
            start, _, m, st = owner
            moff = (r.offset - start) * 8
            idx, mem = next(((i, x) for i, x in enumerate(st.members)
                             if x.bit_offset == moff), (None, None))
            if mem is None:
                raise self.err(f"no member of {st.name!r} at offset {moff // 8}", **where)
            sym = r.symbol
            f = self._func_at(sym.shndx, sym.value // 8) if 0 < sym.shndx < len(
                self.elf.sections) and not sym.value % 8 else None
            prog = spec.programs.get(f.name) if f is not None else None
            if prog is None or prog.type != U.PROG_TYPE_STRUCT_OPS:
                raise self.err(f"member {mem.name!r} must point to a struct_ops program",
                               **where)
            m.struct_ops_progs[mem.name] = prog.name
            used.add(prog.name)
            if not optional:
                # libbpf passes the member index as the expected attach type
                prog.expected_attach_type = idx
        return used

    def _map_relocations(self) -> None:
        """Initial slots of prog arrays and map-in-map from the relocations in .maps."""
        from . import uapi as U
        if self.maps_idx < 0:
            return
        spec = self.spec
        sec = self.elf.sections[self.maps_idx]
        spans = sorted((m.section_offset, m.section_offset + self._map_sizes.get(n, 0), n)
                       for n, m in spec.maps.items() if m.section == ".maps")
        values_off = self._values_off
        for r in self.elf.relocations(sec):
            owner = None
            for start, end, n in spans:
                if start <= r.offset < end:
                    owner = n
                    break
            where = dict(section=sec, symbol=r.symbol.name, offset=r.offset)
            if owner is None:
                raise self.err("relocation in .maps outside any map definition", **where)
            m = spec.maps[owner]
            if owner not in values_off:
                raise self.err(f"map {owner!r} has a relocation but no 'values' field", **where)
            moff = r.offset - m.section_offset - values_off[owner]
            if moff < 0 or moff % 8:
                raise self.err(f"relocation in map {owner!r} is not a 'values' slot", **where)
            idx = moff // 8
            if m.max_entries and idx >= m.max_entries:
                raise self.err(f"initial value slot {idx} of map {owner!r} is beyond "
                               f"max_entries {m.max_entries}", **where)
            sym = r.symbol
            if m.type == U.MAP_TYPE_PROG_ARRAY:
                tsec = self.elf.sections[sym.shndx] if 0 < sym.shndx < len(self.elf.sections) \
                    else None
                f = self._func_at(sym.shndx, sym.value // 8) if tsec is not None else None
                if f is None or f.name not in spec.programs:
                    raise self.err(f"prog array {owner!r} slot {idx} must point to a program",
                                   **where)
                m.init_slots[idx] = f.name
            elif m.type in (U.MAP_TYPE_ARRAY_OF_MAPS, U.MAP_TYPE_HASH_OF_MAPS):
                if sym.shndx != self.maps_idx:
                    raise self.err(f"map-in-map {owner!r} slot {idx} must point to a map",
                                   **where)
                target = self.map_at.get((self.maps_idx, sym.value))
                if target is None:
                    raise self.err(f"map-in-map {owner!r} slot {idx} points to no map", **where)
                m.init_slots[idx] = target
            else:
                raise self.err(f"map {owner!r} of type {m.type_name} cannot have initial "
                               "values", **where)

    def _datasec_fixups(self) -> None:
        """Sizes and VAR offsets of every DATASEC, from the ELF (libbpf's btf_fixup_datasec)."""
        if self.btf is None:
            return
        from .btf import types as T
        spec = self.spec
        for sec in self.elf.sections:
            if not sec.name or sec.index == 0:
                continue
            ds = self._datasec(sec.name)
            if ds is None:
                continue
            spec.datasec_sizes[sec.name] = sec.size
            offs = spec.datasec_offsets.setdefault(sec.name, {})
            for vi in ds.vars:
                v = self._btf(vi.type, f"{sec.name} DATASEC entry", sec.name)
                if v.kind != T.VAR:
                    continue
                if v.linkage == T.LINKAGE_STATIC:
                    offs[v.name] = vi.offset
                else:
                    offs[v.name] = self.sym_value.get((sec.index, v.name), vi.offset)
        kc = spec.maps.get(".kconfig")
        if kc is not None and kc.internal == INTERNAL_KCONFIG:
            spec.datasec_sizes[".kconfig"] = kc.value_size
            spec.datasec_offsets[".kconfig"] = {e.name: e.offset for e in spec.externs.values()
                                                if e.kind == "kconfig"}

    # -- .BTF.ext -------------------------------------------------------------------------
    def _ext_info(self) -> None:
        spec = self.spec
        s = self.elf.section_by_name(".BTF.ext")
        if self.btf is not None:
            from .btf import types as T
            for name, p in spec.functions.items():
                try:
                    ids = self.btf.find(name.split("#", 1)[0], T.FUNC)
                except BTFError:
                    ids = []
                if ids:
                    p.btf_func_id = ids[0]
        if s is None or self.btf is None:
            return
        try:
            from .btf.ext import parse_btf_ext
        except ImportError:
            return   # the .BTF.ext reader is not available: no func/line info
        try:
            ext = parse_btf_ext(bytes(s.data()), self.btf)
        except BTFError as e:
            raise self.err(f"invalid .BTF.ext: {e}", section=s) from None
        spec.btf_ext = ext
        for sec in self.exec_secs:
            fi = _Sorted(ext.func_info.get(sec.name, []), lambda x: x[0])
            li = _Sorted(ext.line_info.get(sec.name, []), lambda x: x.insn_off)
            cr = _Sorted(ext.core_relos.get(sec.name, []), lambda x: x.insn_off)
            for f in self.funcs_by_sec.get(sec.index, ()):
                p = spec.functions[f.name]
                p.func_info = _rebase(fi, f.start, f.end, lambda x: x[0])
                p.line_info = _rebase(li, f.start, f.end, lambda x: x.insn_off)
                p.core_relos = _rebase(cr, f.start, f.end, lambda x: x.insn_off)
                if p.func_info and p.func_info[0][0] == 0:
                    p.btf_func_id = p.func_info[0][1]
        self._exception_callbacks()

    def _exception_callbacks(self) -> None:
        """``__exception_cb(cb)`` is a decl tag ``exception_callback:cb`` on the main
        program's global FUNC; the kernel looks the callback up in the program's func_info,
        so it must be placed in the program although no instruction calls it."""
        btf, spec = self.btf, self.spec
        prefix = "exception_callback:"
        # a bytes search of the blob spares walking every type of objects without one
        if btf is None or prefix.encode() not in btf.raw:
            return
        from .btf import types as T
        from .btf.marshal import ids_of_kind
        for tid in ids_of_kind(btf, T.DECL_TAG):
            if not btf.name_of(tid).startswith(prefix):
                continue
            tag = self._btf(tid, "exception callback tag")
            if tag.component_idx != -1:
                continue
            func = self._btf(tag.type, "exception callback tag target")
            cb = tag.name[len(prefix):]
            if not isinstance(func, T.Func) or func.linkage != T.LINKAGE_GLOBAL:
                raise self.err(f"decl tag {tag.name!r} is not on a global (main program) "
                               "function", symbol=cb)
            main = spec.programs.get(func.name)
            if main is None:
                continue
            if not cb:
                raise self.err(f"program {func.name!r}: empty exception_callback decl tag",
                               symbol=func.name)
            sub = spec.functions.get(cb)
            if sub is None or not sub.is_subprog or not sub.global_func:
                raise self.err(f"program {func.name!r}: exception callback {cb!r} is not a "
                               "global subprogram of this object", symbol=cb)
            main.exception_cb = cb
