"""The load pipeline: ObjectSpec → live maps and programs (``Object``).

``corebpf.load(path_or_spec, ...)`` does what libbpf's ``bpf_object__load`` does, in order:

1. object BTF sanitized for this kernel and loaded (``btf.marshal``);
2. maps created (inner-map templates, pinning by name, PERF_EVENT_ARRAY sizing, struct_ops
   values), global data filled, ``.rodata``/``.kconfig`` frozen, map-in-map slots set;
3. for each entry program: CO-RE on copies of its functions' instructions (``btf.core``,
   against the kernel BTF read lazily, module BTF on demand), linking with its subprograms
   (``linker``), BPF_PROG_LOAD with func_info/line_info (a failure is the program's own
   with ``continue_on_error``);
4. prog-array slots filled, struct_ops maps filled, maps pinned by name.

Every error path closes what was opened before it.
"""
from __future__ import annotations

import os
import struct
TYPE_CHECKING = False  # typing costs ≈3 ms of start-up; type checkers take this as True
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, Iterable

from . import _sys
from .errors import (Error, KernelError, MapError, NotSupported, ObjectError,
                     PermissionDenied, VerifierError)
from .programs import Program

_PIN_BY_NAME = 1
_MAP_PERF_EVENT_ARRAY = 4
_MAP_PROG_ARRAY = 3
_MAP_ARRAY_OF_MAPS, _MAP_HASH_OF_MAPS = 12, 13
_MAP_ARENA, _F_SEGV_ON_FAULT = 33, 1 << 17
# map types that refuse BTF key/value type ids (libbpf clears them, as do we)
_NO_BTF_MAPS = frozenset((4, 7, 8, 12, 13, 14, 15, 16, 17, 18, 22, 23, 25, 27, 31))
_PROG_TRACING, _PROG_LSM, _PROG_EXT, _PROG_STRUCT_OPS = 26, 29, 28, 27
_ATTACH_TRACE_ITER, _ATTACH_RAW_TP, _ATTACH_LSM_MAC = 28, 23, 27


class Object:
    """A loaded object: ``maps`` and ``programs`` (dicts by name), ``links``,
    ``variables`` (global data by name, read/write through the maps), ``errors``
    (per-program load errors with ``continue_on_error``), ``spec`` (the ObjectSpec used).

    Closing the object detaches its links and closes every map and program it made.
    """

    def __init__(self, spec: Any) -> None:
        self.spec = spec
        self.name = getattr(spec, "name", "")
        self.maps: dict[str, Any] = {}
        self.programs: dict[str, Program] = {}
        self.links: list[Any] = []
        self.errors: dict[str, BaseException] = {}
        self.btf_fd: Any = None
        self.btf_error: BaseException | None = None
        self.core_results: dict[str, list] = {}
        self._map_fds: dict[str, Any] = {}
        self._extra_fds: list[Any] = []
        self._struct_ops_filled: set[str] = set()
        self._closed = False
        self.variables = Variables(self)

    # -- lifetime -------------------------------------------------------------------------
    def close(self) -> None:
        """Detach links, close programs, maps and the object BTF (idempotent)."""
        if self._closed:
            return
        self._closed = True
        first: BaseException | None = None
        for ln in reversed(self.links):
            try:
                ln.close()
            except Exception as e:  # keep closing the rest
                first = first or e
        self.links.clear()
        for p in self.programs.values():
            p.close()
        for name, m in self.maps.items():
            try:
                m.close()
            except Exception as e:
                first = first or e
        for fd in self._map_fds.values():
            fd.close()
        for fd in self._extra_fds:
            fd.close()
        if self.btf_fd is not None:
            self.btf_fd.close()
        if first is not None:
            raise first

    def __enter__(self) -> "Object":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            if not self._closed:
                self.close()
        except Exception:
            pass

    def __repr__(self) -> str:
        return (f"<Object {self.name!r} {len(self.programs)} programs, {len(self.maps)} maps"
                f"{', closed' if self._closed else ''}>")

    # -- use ----------------------------------------------------------------------------
    def attach_all(self) -> list[Any]:
        """Attach every program whose section names its hook (tp/, raw_tp/, tp_btf/,
        uprobe with a target, xdp needs an interface so it is skipped, ...) and register
        every struct_ops map. Links are kept in ``links`` and detached by ``close()``.
        Returns the new links; if one attach fails, those made so far are undone."""
        new: list[Any] = []
        try:
            for name, prog in self.programs.items():
                if not _auto_attach(prog.spec):
                    continue
                link = prog.attach()
                if link is not None:
                    self.links.append(link)
                    new.append(link)
            # struct_ops maps: registered here, as libbpf's skeleton attach does (through
            # a link for BPF_F_LINK maps, by the value update for the others)
            for name, ms in self.spec.maps.items():
                if getattr(ms, "internal", None) == "struct_ops" and \
                        name in self._struct_ops_filled:
                    new.append(self.attach_struct_ops(name))
        except Exception:
            for ln in new:
                try:
                    ln.close()
                except Exception:
                    pass
                self.links.remove(ln)
            raise
        return new

    def attach_struct_ops(self, name: str) -> Any:
        """Register the struct_ops map ``name`` (its programs must have loaded); returns the
        Link (kept in ``links``) whose close unregisters it."""
        m = self._map(name)
        # the link module writes the value held back at load (register_struct_ops) and
        # turns the kernel's refusal (EEXIST: the name is taken) into an AttachError
        from .link import attach_struct_ops
        try:
            link = attach_struct_ops(m)
        except BaseException:
            _unregister(m)
            raise
        self.links.append(link)
        return link

    def ring_buffer(self, name: str, callback: Any = None, **kw: Any) -> Any:
        """A ``RingBuffer`` reader on the ring-buffer map ``name``. ``event_type`` may name
        a type of the object's BTF (``event_type="event"``, decoded per record) or be a
        codec. The caller closes the reader; the map stays with the object."""
        from .ringbuf import RingBuffer
        return RingBuffer(self._map(name), callback, **self._event_kw(kw))

    def perf_buffer(self, name: str, callback: Any = None, **kw: Any) -> Any:
        """A ``PerfBuffer`` reader on the PERF_EVENT_ARRAY map ``name`` (``event_type`` as
        for :meth:`ring_buffer`)."""
        from .perfbuf import PerfBuffer
        return PerfBuffer(self._map(name), callback, **self._event_kw(kw))

    def _event_kw(self, kw: dict[str, Any]) -> dict[str, Any]:
        et = kw.get("event_type")
        if isinstance(et, str):
            kw = dict(kw)
            kw["event_type"] = self.codec(et)
        return kw

    def codec(self, type_name: str) -> Any:
        """A ``btf.codec.Codec`` for the struct/union/typedef/int named ``type_name`` in
        the object's BTF."""
        btf = getattr(self.spec, "btf", None)
        if btf is None:
            raise ObjectError(f"object {self.name!r} has no BTF to find type {type_name!r}")
        from .btf import types as T
        from .btf.codec import Codec
        name = type_name
        for prefix in ("struct ", "union ", "enum "):
            if name.startswith(prefix):
                name = name[len(prefix):]
        ids = []
        for kind in (T.STRUCT, T.UNION, T.TYPEDEF, T.INT, T.ENUM):
            ids = btf.find(name, kind)
            if ids:
                break
        if not ids:
            raise ObjectError(f"object {self.name!r}: no type {type_name!r} in its BTF")
        return Codec(btf, ids[0])

    def _map(self, name: str) -> Any:
        try:
            return self.maps[name]
        except KeyError:
            raise MapError(f"object {self.name!r} has no map {name!r} "
                           f"(maps: {', '.join(self.maps) or 'none'})") from None

    def map_fd(self, name: str) -> int:
        m = self._map(name)
        return _fdnum(m)


# struct_ops map -> [its kernel value until written, the kernel struct's name]. The value
# is written on attach, as libbpf does: for a non-link map that write IS the registration;
# for a BPF_F_LINK map it is where the kernel runs the struct's validate(), which an object
# must be able to fail at attach, not at load. A weakref.WeakKeyDictionary made on first use
# (weakref is not needed on most loads).
_STRUCT_OPS_PENDING: Any = None


def _pending() -> Any:
    global _STRUCT_OPS_PENDING
    if _STRUCT_OPS_PENDING is None:
        import weakref
        _STRUCT_OPS_PENDING = weakref.WeakKeyDictionary()
    return _STRUCT_OPS_PENDING


def _struct_ops_entry(m: Any) -> list | None:
    try:
        return _pending().get(m)
    except TypeError:  # an fd number (not weak-referenceable): no map an Object made
        return None


def struct_ops_value(m: Any) -> bytes | None:
    """The value a loaded struct_ops map gets on attach, while it is not yet written."""
    entry = _struct_ops_entry(m)
    return entry[0] if entry is not None else None


def struct_ops_type(m: Any) -> str | None:
    """The kernel struct (``tcp_congestion_ops``) of a struct_ops map an Object loaded."""
    entry = _struct_ops_entry(m)
    return entry[1] if entry is not None else None


def register_struct_ops(m: Any) -> bool:
    """Write the value held back for a loaded struct_ops map (once; True if this call did).
    For a non-link map the write registers it; a BPF_F_LINK map is then ready for a link.
    The kernel's refusal (its KernelError) leaves the value held back."""
    entry = _struct_ops_entry(m)
    if entry is None or entry[0] is None:
        return False
    _sys.map_update_elem(_fdnum(m), struct.pack("<I", 0), entry[0])
    entry[0] = None
    return True


def _unregister(m: Any) -> None:
    try:
        _sys.map_delete_elem(_fdnum(m), struct.pack("<I", 0))
    except KernelError:
        pass


def _fdnum(x: Any) -> int:
    if isinstance(x, int):
        return x
    fd = getattr(x, "fd", None)
    if fd is not None:
        return _fdnum(fd)
    return x.fileno()


# fentry, fexit, fmod_ret, lsm_mac, lsm_cgroup: the attach types that need a trampoline
_TRAMPOLINE_ATTACH = frozenset((24, 25, 26, 27, 43))


def _is_trampoline(spec: Any) -> bool:
    """fentry/fexit/fmod_ret/LSM/freplace: programs a locked-down kernel refuses to load."""
    if spec.type in (_PROG_EXT, _PROG_LSM):
        return True
    return spec.type == _PROG_TRACING and spec.expected_attach_type in _TRAMPOLINE_ATTACH


def _auto_attach(spec: Any) -> bool:
    """Does libbpf's bpf_object__attach_skeleton attach this program on its own? Only
    sections that name their hook completely (tp/cat/name, raw_tp/name, tp_btf/name,
    uprobe/path:func, iter/task, ...); xdp, tc, cgroup, socket ... need a target from the
    caller, freplace a target program."""
    if spec is None or not getattr(spec, "autoload", True):
        return False
    sd = getattr(spec, "sec_def", None)
    if sd is None or not getattr(sd, "auto_attach", None) or spec.type == _PROG_EXT:
        return False
    if not spec.attach_to:
        return False
    if sd.auto_attach in ("uprobe", "usdt", "uprobe_multi") and ":" not in spec.attach_to:
        return False
    return True


class Variables:
    """Global variables of a loaded object: ``obj.variables["x"]`` reads the current value
    (decoded through BTF when the type is an int/enum/struct; else bytes),
    ``obj.variables["x"] = v`` writes it (refused for ``.rodata``/``.kconfig``, frozen)."""

    def __init__(self, obj: Object) -> None:
        self._obj = obj

    def _var(self, name: str) -> Any:
        spec = self._obj.spec
        v = spec.variables.get(name) if spec is not None else None
        if v is None:
            raise ObjectError(f"no global variable {name!r} (variables: "
                              f"{', '.join(spec.variables) if spec else 'none'})",
                              file=getattr(spec, "path", None), symbol=name)
        return v

    def __contains__(self, name: object) -> bool:
        return name in self._obj.spec.variables

    def __iter__(self):
        return iter(self._obj.spec.variables)

    def keys(self):
        return self._obj.spec.variables.keys()

    def raw(self, name: str) -> bytes:
        """The variable's current bytes, read from its map."""
        v = self._var(name)
        fd, vsize = self._fd(v)
        buf = bytearray(vsize)
        _sys.map_lookup_elem(fd, struct.pack("<I", 0), buf)
        return bytes(buf[v.offset:v.offset + v.size])

    def _fd(self, v: Any) -> tuple[int, int]:
        m = self._obj.maps.get(v.section)
        if m is None:
            raise ObjectError(f"variable {v.name!r}: its map {v.section!r} was not created",
                              symbol=v.name)
        return _fdnum(m), v.map.value_size

    def __getitem__(self, name: str) -> Any:
        v = self._var(name)
        return _decode(self._obj.spec.btf, v, self.raw(name))

    def __setitem__(self, name: str, value: Any) -> None:
        v = self._var(name)
        if v.map.freeze:
            raise ObjectError(f"variable {name!r} lives in {v.section}, frozen after load; "
                              "set it before loading (variables={...})", symbol=name)
        data = _encode(self._obj.spec.btf, v, value)
        fd, vsize = self._fd(v)
        buf = bytearray(vsize)
        key = struct.pack("<I", 0)
        _sys.map_lookup_elem(fd, key, buf)
        buf[v.offset:v.offset + v.size] = data
        _sys.map_update_elem(fd, key, buf)


def _int_type(btf: Any, type_id: int) -> tuple[bool, bool] | None:
    """(is integer-like, signed) for ints/enums/bools behind typedefs/qualifiers."""
    if btf is None or not type_id:
        return None
    try:
        t = btf.resolve(type_id)
    except Exception:
        return None
    from .btf import types as T
    if t.kind == T.INT:
        return True, bool(t.encoding & T.INT_SIGNED)
    if t.kind in (T.ENUM, T.ENUM64):
        return True, bool(getattr(t, "signed", False))
    return None


def _decode(btf: Any, v: Any, data: bytes) -> Any:
    it = _int_type(btf, v.type_id)
    if it is None and v.size in (1, 2, 4, 8) and btf is None:
        it = (True, False)
    if it is not None and v.size in (1, 2, 4, 8, 16):
        return int.from_bytes(data, "little", signed=it[1])
    if btf is not None and v.type_id:
        try:
            from .btf.codec import Codec
            return Codec(btf, v.type_id).decode(data)
        except Exception:
            pass
    return data


def _encode(btf: Any, v: Any, value: Any) -> bytes:
    if isinstance(value, (bytes, bytearray, memoryview)):
        data = bytes(value)
    elif isinstance(value, bool):
        data = int(value).to_bytes(v.size, "little")
    elif isinstance(value, int):
        it = _int_type(btf, v.type_id)
        signed = (it[1] if it else False) or value < 0
        try:
            data = value.to_bytes(v.size, "little", signed=signed)
        except OverflowError:
            raise ObjectError(f"value {value} does not fit variable {v.name!r} "
                              f"({v.size} bytes)", symbol=v.name) from None
    elif isinstance(value, str):
        data = value.encode()[: v.size].ljust(v.size, b"\0")
    else:
        try:
            from .btf.codec import Codec
            data = Codec(btf, v.type_id).encode(value)
        except Exception as e:
            raise ObjectError(f"cannot encode {value!r} for variable {v.name!r}: {e}",
                              symbol=v.name) from None
    if len(data) != v.size:
        raise ObjectError(f"value of {len(data)} bytes for variable {v.name!r} of "
                          f"{v.size} bytes", symbol=v.name)
    return data


# --------------------------------------------------------------------------- load

def open_object(path_or_spec: Any) -> Any:
    """Read an object (path) into a fresh ObjectSpec, or copy a spec; nothing is loaded."""
    from .spec import ObjectSpec
    if isinstance(path_or_spec, ObjectSpec):
        return path_or_spec.copy()
    if isinstance(path_or_spec, (bytes, bytearray, memoryview)):
        return ObjectSpec.from_bytes(path_or_spec)
    return ObjectSpec.from_file(os.fspath(path_or_spec))


def load(path_or_spec: Any, *, btf: Any = None, variables: dict[str, Any] | None = None,
         maps: dict[str, dict[str, Any]] | None = None, pin_root: str | None = None,
         programs: Iterable[str] | None = None, log_level: int = 0,
         continue_on_error: bool = False,
         attach_targets: dict[str, Any] | None = None) -> Object:
    """Load a compiled object (path, bytes or ObjectSpec) into the kernel.

    ``btf``: target BTF for CO-RE (a path or a ``BTF``; default the running kernel's).
    ``variables``: {name: value} set in global data before load (ints, bytes, str, or values
    the BTF codec takes). ``maps``: {name: {attribute: value}} overrides of MapSpec fields
    (``max_entries``, ``flags``, ``pinning`` ...). ``pin_root``: directory for maps pinned by
    name (default /sys/fs/bpf). ``programs``: names of the programs to load (default all).
    ``log_level``: verifier log level (logs kept on ``Program.log``).
    ``continue_on_error``: programs that fail are recorded in ``Object.errors`` instead of
    failing the load. ``attach_targets``: {program name: target program (a ``Program``
    or fd) or (target, function name)} for freplace programs and fentry/fexit on BPF
    programs (libbpf's bpf_program__set_attach_target); the function defaults to the
    section's (``freplace/<function>``). Returns an ``Object``; close it (or use ``with``).
    """
    spec = open_object(path_or_spec)
    loader = _Loader(spec, btf=btf, pin_root=pin_root, log_level=log_level,
                     continue_on_error=continue_on_error)
    if attach_targets:
        loader.set_attach_targets(attach_targets)
    if variables:
        loader.set_variables(variables)
    if maps:
        loader.set_map_options(maps)
    return loader.run(programs)


class _Loader:
    def __init__(self, spec: Any, *, btf: Any, pin_root: str | None, log_level: int,
                 continue_on_error: bool) -> None:
        self.spec = spec
        self.file = spec.path or spec.name
        self.target_arg = btf
        self._target: Any = None
        self.pin_root = pin_root
        self.log_level = log_level
        self.continue_on_error = continue_on_error
        self.obj = Object(spec)
        self.btf_fd: Any = None
        self.ksym_cache: dict[str, tuple] = {}
        self.module_btf_fds: dict[str, Any] = {}
        self._reused: set[str] = set()
        self._pinned: list[str] = []   # pins this load made (removed if it fails)
        self._insns: dict[str, bytearray] = {}   # function name -> relocated copy
        self._core_cache: Any = None
        # struct_ops map name -> (kernel struct id, value size, offset of "data", local type)
        self.struct_ops: dict[str, tuple[int, int, int, Any]] = {}
        self.struct_ops_targets: dict[str, int] = {}  # program name -> kernel struct id
        self.struct_ops_member_idx: dict[str, int] = {}  # program -> kernel member index
        self._hidden: tuple[frozenset, frozenset] | None = None
        self.prog_targets: dict[str, tuple[Any, str | None]] = {}  # freplace & co
        self.kfuncs: dict[str, Any] | None = None   # kfunc extern -> (btf id, module fd)
        # prog type -> {FUNC id: its __arg_ctx clone} when the verifier ignores arg:ctx tags
        self.arg_ctx_ids: dict[int, dict[int, int]] | None = None
        self.fd_array: list[int] = []               # module BTF fds for kfunc calls

    @property
    def hidden(self) -> tuple[frozenset, frozenset]:
        """(functions, variables) of hidden visibility (made static in the loaded BTF)."""
        if self._hidden is None:
            self._hidden = _hidden_symbols(self.spec)
        return self._hidden

    @hidden.setter
    def hidden(self, value: tuple[frozenset, frozenset]) -> None:
        self._hidden = value

    # -- options ------------------------------------------------------------------------
    def set_variables(self, variables: dict[str, Any]) -> None:
        for name, value in variables.items():
            v = self.spec.variables.get(name)
            if v is None:
                raise ObjectError(f"no global variable {name!r} to set (variables: "
                                  f"{', '.join(self.spec.variables) or 'none'})",
                                  file=self.file, symbol=name)
            v.value = _encode(self.spec.btf, v, value)

    def set_attach_targets(self, targets: dict[str, Any]) -> None:
        for name, target in targets.items():
            if name not in self.spec.programs:
                raise ObjectError(f"attach target for unknown program {name!r} (programs: "
                                  f"{', '.join(self.spec.programs) or 'none'})",
                                  file=self.file)
            func = None
            if isinstance(target, tuple):
                target, func = target
            self.prog_targets[name] = (target, func)

    def prog_target(self, entry: Any) -> tuple[int, int] | None:
        """(attach_btf_id, attach_prog_fd) of a program that attaches to a function of
        another BPF program: the id of that function in the target program's BTF."""
        got = self.prog_targets.get(entry.name)
        if got is None:
            return None
        target, func = got
        func = func or entry.attach_to
        if not func:
            raise ObjectError(f"program {entry.name!r}: no target function (give it as "
                              "attach_targets={name: (program, 'function')})",
                              file=self.file, section=entry.section)
        tfd = _fdnum(target)
        info = _sys.prog_info(tfd)
        btf_id = info.get("btf_id") or 0
        if not btf_id:
            raise ObjectError(f"program {entry.name!r}: the target program has no BTF, so "
                              f"its function {func!r} cannot be found", file=self.file,
                              section=entry.section)
        from .btf import BTF
        ids = BTF.from_kernel_id(btf_id).find(func, 12)
        if not ids:
            raise ObjectError(f"program {entry.name!r}: the target program has no function "
                              f"{func!r}", file=self.file, section=entry.section)
        return ids[0], tfd

    def set_map_options(self, options: dict[str, dict[str, Any]]) -> None:
        for name, opts in options.items():
            m = self.spec.maps.get(name)
            if m is None:
                raise MapError(f"{self.file}: no map {name!r} to configure (maps: "
                               f"{', '.join(self.spec.maps) or 'none'})")
            for k, val in opts.items():
                if k not in type(m).__slots__ or k in ("btf", "name"):
                    raise MapError(f"map {name!r}: unknown option {k!r}")
                setattr(m, k, val)
                if k == "max_entries":
                    m.max_entries_default_cpus = False
            if "max_entries" in opts and m.type in (27, 31):
                # RINGBUF, USER_RINGBUF: a power-of-two number of pages, as libbpf's
                # bpf_map__set_max_entries rounds them (the kernel refuses other sizes)
                from .spec import _ringbuf_size
                m.max_entries = _ringbuf_size(m.max_entries)

    # -- target BTF (lazy) ----------------------------------------------------------------
    def target(self) -> Any:
        if self._target is None:
            from .btf import BTF
            t = self.target_arg
            if t is None:
                t = BTF.kernel()
            elif isinstance(t, (str, os.PathLike)):
                t = BTF.from_file(t)
            self._target = t
        return self._target

    def kernel_btf(self) -> Any:
        from .btf import BTF
        return BTF.kernel()

    # -- the pipeline -------------------------------------------------------------------
    def run(self, names: Iterable[str] | None) -> Object:
        spec, obj = self.spec, self.obj
        if names is None:
            entries = [p for p in spec.programs.values() if getattr(p, "autoload", True)]
        else:
            entries = []
            for n in names:
                p = spec.programs.get(n)
                if p is None:
                    raise ObjectError(f"no program {n!r} (programs: "
                                      f"{', '.join(spec.programs) or 'none'})", file=self.file)
                entries.append(p)
        try:
            self.load_btf()
            self.create_maps()
            for e in entries:
                try:
                    self.load_program(e, self.relocated(e))
                except Error as err:
                    if not self.continue_on_error:
                        raise
                    obj.errors[e.name] = err
            self.fill_prog_arrays()
            self.fill_struct_ops()
        except BaseException:
            for path in self._pinned:  # a failed load leaves no pins behind (as libbpf)
                try:
                    os.unlink(path)
                except OSError:
                    pass
            obj.close()
            raise
        return obj

    def relocated(self, entry: Any) -> dict[str, bytearray]:
        """CO-RE-relocated copies of the instructions of ``entry`` and every function it
        reaches (each function relocated once per load, shared by the programs calling it).
        A CO-RE error belongs to the program being loaded (``continue_on_error``)."""
        from .linker import reachable
        done = self._insns
        for fn in reachable(entry, self.spec.functions):
            if fn.name in done:
                continue
            buf = bytearray(fn.insns)
            if fn.core_relos:
                from .btf import core
                if self._core_cache is None:
                    self._core_cache = core.CoreCache(
                        modules=_module_btfs if self.target_arg is None else None)
                results = core.relocate(buf, fn.core_relos, self.spec.btf, self.target(),
                                        section=fn.section, cache=self._core_cache,
                                        target_label="kernel BTF" if self.target_arg is None
                                        else "target BTF")
                self.obj.core_results[fn.name] = results
            done[fn.name] = buf
        return done

    def load_btf(self) -> None:
        """Sanitize the object BTF for this kernel and load it (None if there is none or
        the kernel refuses it: programs then load without func/line info, like libbpf)."""
        if self.spec.btf is None:
            return
        try:
            from .btf import marshal
        except ImportError:
            return
        try:
            fd = _call_load_btf(marshal, self.spec, self.hidden,
                                finish=_arg_ctx_finish(self, marshal))
        except Error as e:
            fd = None
            self.obj.btf_error = e
        self.btf_fd = fd
        self.obj.btf_fd = fd

    # -- maps ---------------------------------------------------------------------------
    def create_maps(self) -> None:
        spec, obj = self.spec, self.obj
        self.fix_mmapable()
        refused = []
        for name, ms in spec.maps.items():
            try:
                fd = self.create_map(ms)
            except NotSupported as e:
                # a struct_ops map of a kind this kernel lacks (BPF_F_LINK before 6.4):
                # with continue_on_error it is left out and its programs still load (as
                # with libbpf 1.1, which does not know .struct_ops.link at all)
                if not (self.continue_on_error and ms.internal == "struct_ops"):
                    raise
                obj.errors[name] = e
                refused.append(name)
                self.struct_ops.pop(name, None)
                continue
            obj._map_fds[name] = fd
        for name in refused:
            del spec.maps[name]
        # contents, freezing and map-in-map slots once every map exists
        arenas = {}
        for name, ms in spec.maps.items():
            fd = obj._map_fds[name]
            if name in self._reused:
                continue
            if ms.type == _MAP_ARENA:
                arenas[name] = self.map_arena(name, ms, fd)
                continue
            contents = ms.contents
            if ms.internal == "struct_ops":
                continue  # filled once its programs are loaded (fill_struct_ops)
            if ms.internal == "kconfig":
                from .linker import kconfig_contents
                contents = kconfig_contents(spec.externs.values(), ms.value_size, self.file)
            if contents is not None and ms.internal is not None:
                if any(contents) or ms.internal != "bss":
                    _sys.map_update_elem(fd, struct.pack("<I", 0), bytes(contents))
            if ms.type in (_MAP_ARRAY_OF_MAPS, _MAP_HASH_OF_MAPS):
                for idx, inner_name in ms.init_slots.items():
                    inner = obj._map_fds.get(inner_name)
                    if inner is None:
                        raise ObjectError(f"map {name!r} slot {idx}: no map {inner_name!r}",
                                          file=self.file, symbol=name)
                    _sys.map_update_elem(fd, struct.pack("<I", idx),
                                         struct.pack("<I", _fdnum(inner)))
            if ms.freeze:
                _sys.map_freeze(fd)
        # pinned by name: pinned once filled and before any program uses it, as libbpf
        # does, so that a loader racing us for the same pin ends up sharing one map
        for name, ms in spec.maps.items():
            if ms.pinning == _PIN_BY_NAME and name not in self._reused:
                self.pin_map(name, ms)
        for name, ms in spec.maps.items():
            obj.maps[name] = m = _wrap_map(obj._map_fds.pop(name), ms, spec.btf)
            if arenas and name in arenas and name not in self._reused:
                m._arena = arenas[name]   # (not when a racing loader's pinned map won)

    def map_arena(self, name: str, ms: Any, fd: Any) -> memoryview:
        """mmap a new ARENA map and copy the global ``__arena`` variables to its start (as
        libbpf 1.5's bpf_object__create_maps). The first mapping sets the arena's user
        address when ``map_extra`` does not: the verifier refuses programs using the arena
        until it is set. A reused (pinned) arena is left as it is, as libbpf does."""
        size = self._max_entries(ms) * os.sysconf("SC_PAGE_SIZE")
        view = _sys.mmap_arena(fd, size, ms.map_extra or 0, what=f"mmap arena map {name!r}")
        contents = ms.contents
        if contents:
            if len(contents) > size:   # the spec checks this; maps= overrides may shrink it
                raise ObjectError(f"arena map {name!r}: {size} bytes cannot hold the "
                                  f"{len(contents)} bytes of global __arena variables",
                                  file=self.file, symbol=name)
            if ms.flags & _F_SEGV_ON_FAULT:
                # the copy would touch pages no program allocated: SIGSEGV, not an error
                raise ObjectError(f"arena map {name!r} has BPF_F_SEGV_ON_FAULT: global "
                                  "__arena variables cannot be copied into it",
                                  file=self.file, symbol=name)
            view[:len(contents)] = contents
        return view

    def pin_map(self, name: str, ms: Any) -> None:
        """Pin a map we created at <pin root>/<name>. If another loader pinned one there
        since we looked (EEXIST), use that one instead when compatible (libbpf retries
        the same way)."""
        obj = self.obj
        root = self.pin_root or "/sys/fs/bpf"
        if root == "/sys/fs/bpf" and not _sys.is_bpffs(root):
            _sys.mount_bpffs(root)
        os.makedirs(root, exist_ok=True)
        path = os.path.join(root, name)
        try:
            _sys.obj_pin(_fdnum(obj._map_fds[name]), path)
        except KernelError as e:
            if e.errno != 17:  # EEXIST
                raise
            fd = _sys.obj_get(path, kind="map")
            try:
                _check_pinned_compatible(fd, ms, path, self._max_entries(ms))
            except BaseException:
                fd.close()
                raise
            obj._map_fds.pop(name).close()
            obj._map_fds[name] = fd
            self._reused.add(name)
            return
        self._pinned.append(path)

    def fix_mmapable(self) -> None:
        """libbpf makes a global-data map mmapable only if one of its variables is
        non-static; ``__hidden`` variables count as static (they are, once loaded).
        Kernels without mmapable arrays (before 5.5) get no BPF_F_MMAPABLE at all."""
        wants = [ms for ms in self.spec.maps.values()
                 if ms.internal in ("data", "bss", "rodata", "kconfig")
                 and ms.flags & (1 << 10)]
        if wants:
            from .features import has_feature
            try:
                ok = has_feature("array_mmap")
            except Error:
                ok = True
            if not ok:
                for ms in wants:
                    ms.flags &= ~(1 << 10)
                return
        btf = self.spec.btf
        if btf is None:
            return
        hidden = self.hidden[1]
        if not hidden:
            return
        from .btf import types as T
        for ms in self.spec.maps.values():
            if ms.internal not in ("data", "bss", "rodata") or not ms.flags & (1 << 10):
                continue
            ids = btf.find(ms.section or ms.name, T.DATASEC)
            if not ids:
                continue
            exported = False
            for vi in btf[ids[0]].vars:
                vt = btf[vi.type]
                if vt.kind == T.VAR and vt.linkage != T.LINKAGE_STATIC and \
                        vt.name not in hidden:
                    exported = True
                    break
            if not exported:
                ms.flags &= ~(1 << 10)

    def create_map(self, ms: Any) -> Any:
        path = None
        if ms.pinning == _PIN_BY_NAME:
            root = self.pin_root or "/sys/fs/bpf"
            path = os.path.join(root, ms.name)
            if os.path.exists(path):
                fd = _sys.obj_get(path, kind="map")
                try:
                    _check_pinned_compatible(fd, ms, path, self._max_entries(ms))
                except BaseException:
                    fd.close()
                    raise
                self._reused.add(ms.name)
                return fd
        inner_fd = None
        if ms.inner is not None:
            inner_fd = self.create_map(_inner_template(ms.inner))
        try:
            fd = self._map_create(ms, inner_fd)
        finally:
            if inner_fd is not None:
                inner_fd.close()
        return fd

    def _max_entries(self, ms: Any) -> int:
        if ms.type == _MAP_PERF_EVENT_ARRAY and (ms.max_entries_default_cpus
                                                  or not ms.max_entries):
            return _sys.possible_cpus()
        return ms.max_entries

    def _struct_ops_create(self, ms: Any) -> Any:
        """A STRUCT_OPS map: its value is the kernel's ``bpf_struct_ops_<name>`` wrapper of
        the struct the object fills (``tcp_congestion_ops`` ...), found in vmlinux BTF."""
        from .btf import types as T
        from .btf.core import essential_name
        local = self.spec.btf[ms.value_type] if self.spec.btf is not None else None
        if local is None or self.btf_fd is None:
            raise ObjectError(f"struct_ops map {ms.name!r} needs the object's BTF loaded",
                              file=self.file, symbol=ms.name)
        tname = essential_name(local.name)
        kbtf = self.kernel_btf()
        kids = kbtf.find(tname, T.STRUCT)
        vids = kbtf.find("bpf_struct_ops_" + tname, T.STRUCT)
        if not kids or not vids:
            raise ObjectError(f"struct_ops map {ms.name!r}: the kernel has no struct_ops "
                              f"type {tname!r}", file=self.file, symbol=ms.name)
        vt = kbtf[vids[0]]
        data = next((m for m in vt.members if m.name == "data"), None)
        if data is None:
            raise ObjectError(f"struct_ops map {ms.name!r}: kernel type "
                              f"bpf_struct_ops_{tname} has no 'data' member", file=self.file)
        self.struct_ops[ms.name] = (kids[0], vt.size, data.bit_offset // 8, local)
        # the expected attach type of a struct_ops program is its member's index in the
        # KERNEL struct, found by name (libbpf's bpf_map__init_kern_struct_ops): the spec's
        # index is the object's own (an object built against other headers may order the
        # members differently)
        kmembers = [m.name for m in kbtf[kids[0]].members]
        for member, prog in ms.struct_ops_progs.items():
            self.struct_ops_targets[prog] = kids[0]
            try:
                self.struct_ops_member_idx[prog] = kmembers.index(member)
            except ValueError:
                raise ObjectError(f"struct_ops map {ms.name!r}: the kernel's {tname} has no "
                                  f"member {member!r}", file=self.file,
                                  symbol=ms.name) from None
        try:
            return _sys.map_create(ms.type, 4, vt.size, 1, ms.flags, map_name=ms.kernel_name,
                                   btf_fd=self.btf_fd, btf_vmlinux_value_type_id=vids[0])
        except KernelError as e:
            if e.errno == 22 and ms.flags & (1 << 13):
                raise NotSupported(
                    f"struct_ops map {ms.name!r} (SEC(\".struct_ops.link\"))", e.errno,
                    hint="struct_ops maps registered through a link (BPF_F_LINK) need "
                    "Linux 6.4+; use SEC(\".struct_ops\") on older kernels",
                    feature="struct_ops links") from e
            raise

    def fill_struct_ops(self) -> None:
        """Build each struct_ops map's value: the object's data with every function pointer
        replaced by its program's fd, held back until attach (``register_struct_ops``)."""
        from .btf import types as T
        kbtf = self.kernel_btf() if self.struct_ops else None
        for name, (kid, vsize, data_off, local) in self.struct_ops.items():
            ms = self.spec.maps[name]
            if any(p not in self.obj.programs for p in ms.struct_ops_progs.values()):
                continue  # a program it needs did not load: leave it unregistered
            kst = kbtf[kid]
            kmembers = {m.name: m for m in kst.members}
            value = bytearray(vsize)
            contents = ms.contents or bytearray(local.size)
            for m in local.members:
                km = kmembers.get(m.name)
                lo = m.bit_offset // 8
                lsize = self.spec.btf.size_of(m.type) if not m.bitfield_size else 0
                if m.name in ms.struct_ops_progs:
                    if km is None:
                        raise ObjectError(f"struct_ops {name!r}: the kernel's {kst.name} has "
                                          f"no member {m.name!r}", file=self.file)
                    fd = self.obj.programs[ms.struct_ops_progs[m.name]].fd
                    struct.pack_into("<Q", value, data_off + km.bit_offset // 8, fd)
                    continue
                chunk = bytes(contents[lo:lo + lsize])
                if not any(chunk):
                    continue
                ksize = kbtf.size_of(km.type) if km is not None and not km.bitfield_size else -1
                if km is None or ksize != lsize or m.bitfield_size:
                    raise ObjectError(f"struct_ops {name!r}: member {m.name!r} is set but "
                                      f"does not match the kernel's {kst.name}",
                                      file=self.file, symbol=name)
                ko = data_off + km.bit_offset // 8
                value[ko:ko + lsize] = chunk
            self.obj._struct_ops_filled.add(name)
            # kept for attach (attach_all / attach_struct_ops), as libbpf does: loading
            # registers nothing (a TCP congestion control, say) by itself, and a BPF_F_LINK
            # map's value, which the kernel validates when it is written, is refused there
            # (an AttachError naming the map), not by the whole load
            _pending()[self.obj.maps[name]] = [bytes(value), kst.name]

    def _map_create(self, ms: Any, inner_fd: Any) -> Any:
        if ms.internal == "struct_ops":
            return self._struct_ops_create(ms)
        kw: dict[str, Any] = dict(inner_map_fd=inner_fd, numa_node=ms.numa_node,
                                  map_name=ms.kernel_name, map_extra=ms.map_extra)
        use_btf = (self.btf_fd is not None and ms.type not in _NO_BTF_MAPS
                   and (ms.key_type or ms.value_type))
        if use_btf:
            try:
                return _sys.map_create(ms.type, ms.key_size, ms.value_size,
                                       self._max_entries(ms), ms.flags, btf_fd=self.btf_fd,
                                       btf_key_type_id=ms.key_type,
                                       btf_value_type_id=ms.value_type, **kw)
            except KernelError:
                pass  # retry without BTF as libbpf does
        return _sys.map_create(ms.type, ms.key_size, ms.value_size, self._max_entries(ms),
                               ms.flags, **kw)

    def fill_prog_arrays(self) -> None:
        for name, ms in self.spec.maps.items():
            if ms.type != _MAP_PROG_ARRAY or not ms.init_slots:
                continue
            fd = _fdnum(self.obj.maps[name])
            for idx, prog_name in ms.init_slots.items():
                p = self.obj.programs.get(prog_name)
                if p is None:
                    continue  # not loaded (subset or failed): leave the slot empty
                _sys.map_update_elem(fd, struct.pack("<I", idx), struct.pack("<I", p.fd))

    # -- programs -----------------------------------------------------------------------
    def load_program(self, entry: Any, insns: dict[str, bytearray]) -> None:
        from .linker import link
        linked = link(entry, self.spec.functions, _ObjResolver(self), lambda f: insns[f.name],
                      file=self.file)
        fi = li = None
        if self.btf_fd is not None:
            fi = [(off, tid) for off, tid in linked.func_info] or None
            ids = self.arg_ctx_ids
            if fi and ids and entry.type in ids:  # __arg_ctx retyped for an old verifier
                fi = [(off, ids[entry.type].get(tid, tid)) for off, tid in fi]
            li = _line_records(self.spec.btf, linked.line_info) or None
        prog_target = self.prog_target(entry)
        attach_prog_fd = None
        if prog_target is not None:
            (attach_btf_id, attach_prog_fd), attach_obj_fd = prog_target, None
        else:
            attach_btf_id, attach_obj_fd = self.attach_target(entry)
        eat = self.struct_ops_member_idx.get(entry.name, entry.expected_attach_type)
        license = entry.license or self.spec.license or ""
        from .linker import kernel_version
        kver = entry.kern_version or self.spec.kern_version or kernel_version()

        def source(insn: int) -> Any:
            return _describe_insn(self, entry, linked, insn)

        try:
            prog = Program.load(entry.type, linked.insns, license, name=entry.name,
                                expected_attach_type=eat, attach_btf_id=attach_btf_id,
                                attach_btf_obj_fd=attach_obj_fd,
                                attach_prog_fd=attach_prog_fd, btf_fd=self.btf_fd,
                                func_info=fi, line_info=li, kern_version=kver,
                                flags=entry.flags, log_level=self.log_level,
                                fd_array=linked.fd_array or None, source=source)
        except PermissionDenied as e:
            # root yet EPERM for a trampoline program: the kernel refuses the kind itself
            # (lockdown, no BPF trampoline); say so plainly (corebpf.link.tracing.refusal)
            if e.errno == 1 and _is_trampoline(entry) and os.geteuid() == 0:
                from .link.tracing import refusal, tracing_kind
                raise refusal(tracing_kind(entry), e, entry.attach_to or None) from e
            raise
        except VerifierError as e:
            if self.obj.btf_error is not None:
                # without the object's BTF there is no func/line info: say why up front
                from .errors import _last_log_line
                err = VerifierError(entry.name, e.errno, e.log,
                                    summary=f"the kernel refused the object's BTF "
                                    f"({self.obj.btf_error}); verifier: "
                                    f"{_last_log_line(_sys._log_end(e.log))}",
                                    instruction=e.instruction, source=e.source,
                                    log_truncated=e.log_truncated)
                raise err from e
            raise
        prog.section = entry.section
        prog.spec = entry
        prog.attach_to = entry.attach_to
        prog.linked = linked
        prog.object = self.obj
        self.obj.programs[entry.name] = prog
        # like libbpf, bind every .rodata* map to every program (BPF_PROG_BIND_MAP), so
        # that tools find the object's read-only data (and its metadata) through any program
        for name, ms in self.spec.maps.items():
            if ms.internal == "rodata" and name in self.obj.maps:
                try:
                    _sys.prog_bind_map(prog.fd, _fdnum(self.obj.maps[name]))
                except KernelError:
                    pass

    def attach_target(self, entry: Any) -> tuple[int, Any]:
        """(attach_btf_id, attach_btf_obj_fd) for tp_btf/fentry/fexit/lsm/iter programs."""
        if entry.type == _PROG_STRUCT_OPS:
            return self.struct_ops_targets.get(entry.name, 0), None
        sd = entry.sec_def
        needs = getattr(sd, "attach_btf", None)
        if needs is None:
            needs = entry.type in (_PROG_TRACING, _PROG_LSM)
        if not needs or not entry.attach_to or entry.type == _PROG_EXT:
            return 0, None
        target = entry.attach_to
        eat = entry.expected_attach_type
        if entry.type == _PROG_LSM:
            fname, kind = "bpf_lsm_" + target, 12
        elif eat == _ATTACH_TRACE_ITER:
            fname, kind = "bpf_iter_" + target, 12
        elif eat == _ATTACH_RAW_TP:
            fname, kind = "btf_trace_" + target, 8
        else:
            fname, kind = target, 12
        module = None
        if ":" in fname:  # "module:function"
            module, fname = fname.split(":", 1)
        kbtf = self.kernel_btf()
        if module is None:
            ids = kbtf.find(fname, kind)
            if ids:
                return ids[0], None
        for mname, mbtf in _module_btfs_named(module):
            ids = [i for i in mbtf.find(fname, kind) if i >= getattr(mbtf, "start_id", 1)]
            if ids:
                return ids[0], self.module_fd(mname)
        raise ObjectError(f"program {entry.name!r}: attach target {fname!r} not found in "
                          "kernel BTF", file=self.file, section=entry.section)

    def module_fd(self, module: str) -> Any:
        fd = self.module_btf_fds.get(module)
        if fd is None:
            fd = _module_btf_fd(module)
            self.module_btf_fds[module] = fd
            self.obj._extra_fds.append(fd)  # closed with the object
        return fd


class _ObjResolver:
    """Answers the linker's questions for one load."""

    def __init__(self, loader: _Loader) -> None:
        self.ld = loader

    def map_fd(self, name: str) -> int:
        return _fdnum(self.ld.obj.maps[name])

    def kconfig(self, name: str) -> tuple[int, int]:
        ext = self.ld.spec.externs.get(name)
        if ext is None:
            raise ObjectError(f"unknown kconfig extern {name!r}", file=self.ld.file,
                              symbol=name)
        for mname, ms in self.ld.spec.maps.items():
            if ms.internal == "kconfig":
                return _fdnum(self.ld.obj.maps[mname]), ext.offset
        raise ObjectError("object has kconfig externs but no .kconfig map", file=self.ld.file,
                          symbol=name)

    def ksym(self, name: str) -> tuple:
        ext = self.ld.spec.externs.get(name)
        if ext is None:
            raise ObjectError(f"unknown ksym extern {name!r}", file=self.ld.file, symbol=name)
        if ext.typeless:
            from .linker import kallsyms, kallsyms_ambiguous
            addr = kallsyms().get(name)
            if addr is not None and kallsyms_ambiguous(name):
                raise ObjectError(f"ksym {name!r} is ambiguous: /proc/kallsyms lists it at "
                                  "several addresses", file=self.ld.file, section=".ksyms",
                                  symbol=name)
            if addr is None:
                if ext.weak:
                    return ("addr", 0)
                raise ObjectError(f"ksym {name!r} not found in /proc/kallsyms",
                                  file=self.ld.file, section=".ksyms", symbol=name)
            return ("addr", addr)
        if ext.kind == "kfunc":
            # the address of a kfunc (bpf_ksym_exists): libbpf loads the kernel FUNC's BTF
            # id like a typed ksym's; a missing weak one is 0
            res = self.kfunc(name)
            if res is None:
                return ("addr", 0)
            btf_id, fdn = res
            return ("btf", btf_id, fdn)
        found = self.ld_find(name, 14)
        if found is None:
            if ext.weak:
                return ("addr", 0)
            raise ObjectError(f"typed ksym {name!r} not found in kernel BTF",
                              file=self.ld.file, section=".ksyms", symbol=name)
        btf_id, fd = found
        return ("btf", btf_id, _fdnum(fd) if fd is not None else 0)

    def kfunc(self, name: str) -> tuple[int, int] | None:
        ld = self.ld
        if ld.kfuncs is None:
            # resolve every kfunc extern up front, in libbpf's extern order (by name), so
            # that module BTFs get the same fd_array indexes as libbpf gives them
            ld.kfuncs = {}
            for ename in sorted(n for n, e in ld.spec.externs.items() if e.kind == "kfunc"):
                found = self.find_kfunc(ename)
                ld.kfuncs[ename] = found
                if found is not None and found[0] is not None and found[1] is not None:
                    self.fd_index(_fdnum(found[1]))
        found = ld.kfuncs.get(name) if name in ld.kfuncs else self.find_kfunc(name)
        if found is not None and found[0] is None:   # a flavour whose prototype differs
            raise ObjectError(f"kfunc {name!r}: its prototype is incompatible with the "
                              f"kernel's {found[1]!r}", file=ld.file, section=".ksyms",
                              symbol=name)
        if found is None:
            ext = ld.spec.externs.get(name)
            if ext is not None and ext.weak:
                return None
            raise ObjectError(f"kfunc {name!r} not found in kernel BTF", file=ld.file,
                              section=".ksyms", symbol=name)
        btf_id, fd = found
        return btf_id, (_fdnum(fd) if fd is not None else 0)

    def find_kfunc(self, name: str) -> tuple[Any, Any] | None:
        """(btf id, module BTF fd or None) of the kernel FUNC for the kfunc extern ``name``;
        None if there is none. A flavour ``x___v2`` is looked up as ``x`` and taken only if
        its prototype is compatible with the kernel's (libbpf >= 1.2): if not, a weak one is
        absent (None) and a strong one gives ``(None, "x")``, refused when it is used."""
        if "___" not in name:
            # no flavour: the name is the kernel's; the kernel checks the arguments itself
            return self.ld_find(name, 12)
        from .btf.core import essential_name, types_are_compat
        ess = essential_name(name)
        if ess == name:
            return self.ld_find(name, 12)
        found = self.ld_find_in(ess, 12)
        if found is None:
            return None
        kid, fd, kbtf = found
        ext = self.ld.spec.externs.get(name)
        lbtf = self.ld.spec.btf
        try:
            ok = ext is None or lbtf is None or types_are_compat(
                lbtf, lbtf[ext.type_id].type, kbtf, kbtf[kid].type)
        except Exception:   # too deep or broken types: libbpf says incompatible too
            ok = False
        if ok:
            return kid, fd
        return None if ext.weak else (None, ess)

    @property
    def fd_array(self) -> list[int]:
        return self.ld.fd_array

    def fd_index(self, btf_fd: int) -> int:
        """The object-wide fd_array index of a module BTF (index 0 stays vmlinux's)."""
        arr = self.ld.fd_array
        if not arr:
            arr.append(0)
        try:
            return arr.index(btf_fd, 1)
        except ValueError:
            arr.append(btf_fd)
            return len(arr) - 1

    def ld_find(self, name: str, kind: int) -> tuple[int, Any] | None:
        found = self.ld_find_in(name, kind)
        return None if found is None else found[:2]

    def ld_find_in(self, name: str, kind: int) -> tuple[int, Any, Any] | None:
        """(id, module BTF fd or None for vmlinux, the BTF the id is in): the first match
        in vmlinux, else in the modules in name order (as libbpf's find_ksym_btf_id)."""
        kbtf = self.ld.kernel_btf()
        ids = kbtf.find(name, kind)
        if ids:
            return ids[0], None, kbtf
        for mname, mbtf in _module_btfs_named(None):
            ids = [i for i in mbtf.find(name, kind) if i >= getattr(mbtf, "start_id", 1)]
            if ids:
                return ids[0], self.ld.module_fd(mname), mbtf
        return None


# --------------------------------------------------------------------------- helpers

def _call_load_btf(marshal: Any, spec: Any,
                   hidden: tuple[frozenset, frozenset] | None = None, *,
                   finish: Any = None) -> Any:
    """Sanitize the object's BTF for this kernel (DATASEC sizes and VAR offsets from the ELF
    symbols, .kconfig offsets as the loader lays them out), pass it through ``finish``
    (bytes -> bytes) when given, and load it."""
    datasecs: dict[str, tuple[int, dict[str, int]]] = {}
    for sec, size in spec.datasec_sizes.items():
        datasecs[sec] = (size, {})
    for v in spec.variables.values():
        size, offs = datasecs.setdefault(v.section, (v.map.value_size, {}))
        offs[v.name] = v.offset
    ends: dict[str, int] = {}
    for ms in spec.maps.values():
        if ms.internal == "kconfig":
            datasecs[ms.section or ".kconfig"] = (
                ms.value_size, {e.name: e.offset for e in spec.externs.values()
                                if e.kind == "kconfig"})
        elif ms.internal is None and ms.section:
            # BTF-defined maps: the .maps DATASEC needs the ELF offsets of the map symbols
            size, offs = datasecs.setdefault(ms.section, (0, {}))
            offs[ms.name] = ms.section_offset
    btf = spec.btf
    if btf is not None:
        # every other DATASEC (license, .maps, custom sections): offsets we know from the
        # spec, else the VARs laid out in order with their alignment; size = the end
        from .btf import types as T
        from .btf.marshal import ids_of_kind
        for tid in ids_of_kind(btf, T.DATASEC):
            ds = btf[tid]
            sec = ds.name
            size, offs = datasecs.get(sec, (0, {}))
            if size and all(btf[vi.type].name in offs for vi in ds.vars
                            if btf.kind_of(vi.type) == T.VAR):
                continue
            end = 0
            for vi in ds.vars:
                name = btf[vi.type].name
                if name not in offs:
                    if vi.offset or ds.size:
                        offs[name] = vi.offset
                    else:
                        try:
                            a = max(btf.align_of(btf[vi.type].type), 1)
                        except Exception:
                            a = 8
                        offs[name] = (end + a - 1) // a * a
                end = max(end, offs[name] + vi.size)
            datasecs[sec] = (size or ds.size or end, offs)
    static_funcs, static_vars = hidden if hidden is not None else _hidden_symbols(spec)
    if static_funcs:
        # libbpf makes only hidden *subprograms* static; an entry program stays global
        funcs = spec.functions
        static_funcs = frozenset(n for n in static_funcs
                                 if n not in funcs or funcs[n].is_subprog)
    key = (id(btf), repr(sorted((k, v[0], sorted(v[1].items())) for k, v in datasecs.items())),
           static_funcs, static_vars)
    hit = _SANITIZED.get(key)
    if hit is not None and hit[0] is btf:
        data = hit[1]
    else:
        # (marshal.sanitize patches a copy of the raw bytes when the kernel has every kind)
        data = marshal.sanitize(btf, datasecs=datasecs, static_funcs=static_funcs,
                                static_vars=static_vars)
        if len(_SANITIZED) >= 16:
            _SANITIZED.pop(next(iter(_SANITIZED)))
        _SANITIZED[key] = (btf, data)  # the BTF is kept so that its id is not reused
    if finish is not None:
        data = finish(data)
    return marshal.load_btf(data)


def _arg_ctx_finish(ld: _Loader, marshal: Any) -> Any:
    """None, or, for an object with ``__arg_ctx`` parameters on a kernel whose verifier
    ignores the tag (before 6.8), the step that appends the retyped FUNC clones to the
    sanitized BTF (``marshal.arg_ctx_clones``, libbpf >= 1.4) and leaves the func_info ids
    each program type is to use in ``ld.arg_ctx_ids``."""
    if b"arg:ctx\0" not in ld.spec.btf.raw:  # the common case: one scan of the bytes
        return None
    from . import features
    if features.has_feature("arg_ctx_tag"):
        return None
    prog_types = {p.type for p in ld.spec.programs.values()}
    decl_tags = features.has_btf_feature("decl_tag")

    def finish(data: Any) -> bytes:
        data, ld.arg_ctx_ids = marshal.arg_ctx_clones(bytes(data), prog_types,
                                                      decl_tags=decl_tags)
        return data
    return finish


def _hidden_symbols(spec: Any) -> tuple[frozenset, frozenset]:
    """(functions, variables) with hidden/internal visibility, as the spec read them from
    the ELF symbols: libbpf makes them static in the loaded BTF, so that a ``__hidden``
    global function is verified in its caller's context like a static one."""
    return (frozenset(getattr(spec, "hidden_functions", ())),
            frozenset(getattr(spec, "hidden_variables", ())))


# (id(object BTF), layout) -> (BTF, sanitized bytes): loading one spec again (or a copy of
# it, which shares the BTF) skips re-encoding its types
_SANITIZED: dict[tuple, tuple[Any, bytes]] = {}


def _wrap_map(fd: Any, ms: Any, btf: Any = None) -> Any:
    """A ``maps.Map`` (typed through the object BTF) owning ``fd``."""
    from .maps import Map
    codecs = [None, None]
    # internal maps hold a DATASEC (size 0 in clang's BTF): read them through ``variables``
    if btf is not None and ms.internal is None:
        for i, tid in enumerate((ms.key_type, ms.value_type)):
            if not tid:
                continue
            try:
                size = btf.size_of(tid)
            except Exception:  # an untyped map beats no map: raw bytes then
                continue
            if size == (ms.key_size, ms.value_size)[i]:
                codecs[i] = _LazyCodec(btf, tid, size)
    return Map(fd, btf=btf, name=ms.name, typed=False, key_codec=codecs[0],
               value_codec=codecs[1])


class _LazyCodec:
    """A ``btf.codec.Codec`` built on first use: building one compiles Python source
    (milliseconds per type), which a map that is never read from Python should not pay."""

    __slots__ = ("btf", "type_id", "size", "_codec")

    def __init__(self, btf: Any, type_id: int, size: int) -> None:
        self.btf, self.type_id, self.size = btf, type_id, size
        self._codec: Any = None

    def _real(self) -> Any:
        c = self._codec
        if c is None:
            from .btf.codec import Codec
            c = self._codec = Codec(self.btf, self.type_id)
        return c

    # the hot path (every typed map read/write): one frame once the codec exists
    def decode(self, buf: Any, *args: Any) -> Any:
        c = self._codec
        return (c if c is not None else self._real()).decode(buf, *args)

    def encode(self, value: Any, *args: Any) -> Any:
        c = self._codec
        return (c if c is not None else self._real()).encode(value, *args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real(), name)


def _inner_template(ms: Any) -> Any:
    t = ms.copy()
    t.pinning = 0
    t.inner = ms.inner
    return t


def _check_pinned_compatible(fd: Any, ms: Any, path: str, max_entries: int) -> None:
    info = _sys.map_info(fd)
    # what libbpf's map_is_reuse_compat compares (map_extra since it exists)
    want = (ms.type, ms.key_size, ms.value_size, max_entries, ms.flags, ms.map_extra or 0)
    got = (info["type"], info["key_size"], info["value_size"], info["max_entries"],
           info["map_flags"], info.get("map_extra") or 0)
    if want != got:
        raise MapError(f"map {ms.name!r}: the map pinned at {path} is incompatible "
                       f"(type/key/value/max_entries/flags/map_extra {got} vs {want}); "
                       "remove the pin or change the definition")


def _line_records(btf: Any, line_info: list[tuple[int, Any]]) -> list[tuple[int, int, int, int]]:
    out = []
    for off, li in line_info:
        fno = getattr(li, "file_name_off", None)
        lno = getattr(li, "line_off", None)
        if fno is None:
            fno = _str_off(btf, li.file)
        if lno is None:
            lno = _str_off(btf, li.text)
        out.append((off, fno, lno, (li.line << 10) | (li.col & 0x3FF)))
    return out


_STR_INDEX: dict[int, tuple[bytes, dict[str, int]]] = {}


def _str_off(btf: Any, s: str) -> int:
    """Offset of ``s`` in the object BTF's string section (line info names strings by
    offset; the loaded BTF keeps the original string section)."""
    if not s:
        return 0
    raw = btf.raw
    ent = _STR_INDEX.get(id(btf))
    if ent is None or ent[0] is not raw:
        hdr_len, _to, _tl, str_off, str_len = struct.unpack_from("<IIIII", raw, 4)
        ent = (raw, {"\0strings": hdr_len + str_off, "\0len": str_len})
        _STR_INDEX[id(btf)] = ent
    cache = ent[1]
    got = cache.get(s)
    if got is not None:
        return got
    start = cache["\0strings"]
    strings = raw[start:start + cache["\0len"]]
    needle = s.encode()
    pos = strings.find(b"\0" + needle + b"\0")
    off = pos + 1 if pos >= 0 else (0 if strings.startswith(needle + b"\0") else 0)
    cache[s] = off
    return off


def _describe_insn(ld: _Loader, entry: Any, linked: Any, insn: int) -> tuple[str | None, str]:
    """(C source line, summary) for the verifier's failing instruction ``insn``."""
    src = None
    li = linked.source_line(insn)
    if li is not None:
        text = (getattr(li, "text", "") or "").strip()
        src = f"{getattr(li, 'file', '?')}:{getattr(li, 'line', 0)}: {text}"
    summary = ""
    fn, local = linked.function_at(insn)
    results = ld.obj.core_results.get(fn.name) or []
    for r in results:
        if r.poisoned and r.insn == local:
            summary = f"CO-RE relocation failed: {r.message()}"
            break
    if not summary:
        # a weak kfunc this kernel lacks is left as a call to kfunc id 0 (libbpf 1.1 does
        # the same), which the verifier treats as returning nothing: any refusal of such a
        # program most likely comes from an unguarded call
        buf = linked.insns
        for pos in range(0, len(buf) - 7, 8):
            if buf[pos] == 0x85 and buf[pos + 1] >> 4 == 2 and \
                    struct.unpack_from("<i", buf, pos + 4)[0] == 0:
                f, loc = linked.function_at(pos // 8)
                name = next((r.target for r in f.relocations
                             if r.kind == "kfunc" and r.insn == loc), "?")
                summary = (f"note: the program calls the weak kfunc {name!r}, which this kernel "
                           "lacks (the call does nothing): guard it with "
                           f"`if (bpf_ksym_exists({name}))`")
                break
    return src, summary


def _module_btfs() -> list[Any]:
    return [b for _, b in _module_btfs_named(None)]


def _module_btfs_named(module: str | None) -> list[tuple[str, Any]]:
    from .btf import BTF
    base = "/sys/kernel/btf"
    try:
        names = sorted(os.listdir(base))
    except OSError:
        return []
    out = []
    for n in names:
        if n == "vmlinux" or (module is not None and n != module):
            continue
        try:
            out.append((n, BTF.kernel_module(n)))
        except Error:
            continue
    return out


def _module_btf_fd(module: str) -> Any:
    """An fd of the kernel's BTF object for ``module`` (found by name among BTF ids)."""
    nid = _sys.btf_get_next_id(0)
    while nid is not None:
        try:
            fd = _sys.btf_get_fd_by_id(nid)
        except KernelError:
            nid = _sys.btf_get_next_id(nid)
            continue
        try:
            info = _sys.btf_info(fd)
        except BaseException:
            fd.close()
            raise
        if info["name"] == module and info.get("kernel_btf", True):
            return fd
        fd.close()
        nid = _sys.btf_get_next_id(nid)
    raise ObjectError(f"no kernel BTF object for module {module!r}")
