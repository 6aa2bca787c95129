"""Live BPF maps: a dict-like :class:`Map` over one map fd.

    with Map.create(HASH, 4, 8, 1024, name="counts") as m:
        m[1] = 10                 # ints are encoded little-endian to the key/value size
        m[1]                      # -> b'\\n\\x00...' (raw bytes unless the map is typed)
        for k, v in m.items(): ...

Keys and values are raw bytes by default. A map with BTF key/value types decodes them
through ``corebpf.btf.codec.Codec`` (``key_codec``/``value_codec``); ``m.raw`` is always the
bytes view of the same map. Per-CPU maps take and give a list with one value per possible
CPU. Element operations go through ``_sys.MapOps`` (preallocated buffers, one syscall each);
``m[k]``, ``m[k] = v``, ``del m[k]``, ``k in m`` and ``m.get`` are closures chosen once per
map for its kind of key and value (``Map._bind_fast``). A ``Map`` may be shared by threads:
each thread other than the creating one gets its own buffers.
"""
from __future__ import annotations

import os
import struct
from _thread import allocate_lock, get_ident as _get_ident  # builtin: no import cost
from _weakref import ref as _weakref
from _functools import partial  # the C module: functools.py pulls in collections
TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: typing costs ~3 ms of start-up
    from typing import Any, Iterator

from . import _sys
from ._sys import (BPF_ANY, BPF_EXIST, BPF_F_LOCK, BPF_NOEXIST, FD,  # noqa: F401
                   BPF_MAP_LOOKUP_ELEM, BPF_MAP_UPDATE_ELEM, BPF_MAP_DELETE_ELEM,
                   BPF_MAP_LOOKUP_AND_DELETE_ELEM)
from .errors import Error, KernelError, MapError, NotFound
from .uapi import MAP_TYPE_NAMES  # the one table of names, shared by everyone

# --------------------------------------------------------------------------- map types

MAP_TYPES: dict[str, int] = {v: k for k, v in MAP_TYPE_NAMES.items()}

(UNSPEC, HASH, ARRAY, PROG_ARRAY, PERF_EVENT_ARRAY, PERCPU_HASH, PERCPU_ARRAY, STACK_TRACE,
 CGROUP_ARRAY, LRU_HASH, LRU_PERCPU_HASH, LPM_TRIE, ARRAY_OF_MAPS, HASH_OF_MAPS, DEVMAP,
 SOCKMAP, CPUMAP, XSKMAP, SOCKHASH, CGROUP_STORAGE, REUSEPORT_SOCKARRAY,
 PERCPU_CGROUP_STORAGE, QUEUE, STACK, SK_STORAGE, DEVMAP_HASH, STRUCT_OPS, RINGBUF,
 INODE_STORAGE, TASK_STORAGE, BLOOM_FILTER, USER_RINGBUF, CGRP_STORAGE, ARENA) = range(34)

# map_flags
BPF_F_NO_PREALLOC = 1 << 0
BPF_F_NO_COMMON_LRU = 1 << 1
BPF_F_NUMA_NODE = 1 << 2
BPF_F_RDONLY = 1 << 3
BPF_F_WRONLY = 1 << 4
BPF_F_STACK_BUILD_ID = 1 << 5
BPF_F_ZERO_SEED = 1 << 6
BPF_F_RDONLY_PROG = 1 << 7
BPF_F_WRONLY_PROG = 1 << 8
BPF_F_CLONE = 1 << 9
BPF_F_MMAPABLE = 1 << 10
BPF_F_PRESERVE_ELEMS = 1 << 11
BPF_F_INNER_MAP = 1 << 12
BPF_F_LINK = 1 << 13
BPF_F_PATH_FD = 1 << 14
BPF_F_VTYPE_BTF_OBJ_FD = 1 << 15
BPF_F_TOKEN_FD = 1 << 16
BPF_F_SEGV_ON_FAULT = 1 << 17
BPF_F_NO_USER_CONV = 1 << 18

PERCPU_TYPES = frozenset({PERCPU_HASH, PERCPU_ARRAY, LRU_PERCPU_HASH, PERCPU_CGROUP_STORAGE})
# values are fds on update; lookups give back an id (or refuse)
FD_VALUE_TYPES = frozenset({PROG_ARRAY, PERF_EVENT_ARRAY, CGROUP_ARRAY, ARRAY_OF_MAPS,
                            HASH_OF_MAPS, SOCKMAP, SOCKHASH, XSKMAP, REUSEPORT_SOCKARRAY})
KEYLESS_TYPES = frozenset({QUEUE, STACK, BLOOM_FILTER})
ARRAY_TYPES = frozenset({ARRAY, PERCPU_ARRAY, PROG_ARRAY, PERF_EVENT_ARRAY, CGROUP_ARRAY,
                         ARRAY_OF_MAPS, DEVMAP, CPUMAP, XSKMAP, SOCKMAP,
                         REUSEPORT_SOCKARRAY})
# storage maps keyed by an fd (socket, inode/file, pidfd, cgroup fd): BTF value type needed
LOCAL_STORAGE_TYPES = frozenset({SK_STORAGE, INODE_STORAGE, TASK_STORAGE, CGRP_STORAGE})

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096

# type -> (key_size, value_size, max_entries, flags) used when the caller leaves them out
_DEFAULTS: dict[int, tuple[int, int, int, int]] = {
    HASH: (4, 8, 1024, 0), ARRAY: (4, 8, 1024, 0), PROG_ARRAY: (4, 4, 16, 0),
    PERF_EVENT_ARRAY: (4, 4, 0, 0), PERCPU_HASH: (4, 8, 1024, 0),
    PERCPU_ARRAY: (4, 8, 1024, 0), STACK_TRACE: (4, 127 * 8, 1024, 0),
    CGROUP_ARRAY: (4, 4, 16, 0), LRU_HASH: (4, 8, 1024, 0), LRU_PERCPU_HASH: (4, 8, 1024, 0),
    LPM_TRIE: (8, 8, 1024, BPF_F_NO_PREALLOC), ARRAY_OF_MAPS: (4, 4, 16, 0),
    HASH_OF_MAPS: (4, 4, 16, 0), DEVMAP: (4, 4, 16, 0), SOCKMAP: (4, 4, 16, 0),
    CPUMAP: (4, 4, 0, 0), XSKMAP: (4, 4, 16, 0), SOCKHASH: (4, 4, 16, 0),
    CGROUP_STORAGE: (16, 8, 0, 0), REUSEPORT_SOCKARRAY: (4, 4, 16, 0),
    PERCPU_CGROUP_STORAGE: (16, 8, 0, 0), QUEUE: (0, 8, 1024, 0), STACK: (0, 8, 1024, 0),
    SK_STORAGE: (4, 8, 0, BPF_F_NO_PREALLOC), DEVMAP_HASH: (4, 4, 16, 0),
    RINGBUF: (0, 0, 64 * 1024, 0), INODE_STORAGE: (4, 8, 0, BPF_F_NO_PREALLOC),
    TASK_STORAGE: (4, 8, 0, BPF_F_NO_PREALLOC), BLOOM_FILTER: (0, 8, 1024, 0),
    USER_RINGBUF: (0, 0, 64 * 1024, 0), CGRP_STORAGE: (4, 8, 0, BPF_F_NO_PREALLOC),
    ARENA: (0, 0, 16, BPF_F_MMAPABLE),
}

_INT_FMT = {1: "<B", 2: "<H", 4: "<I", 8: "<Q"}
_MV_FMT = {1: "B", 2: "H", 4: "I", 8: "Q"}   # memoryview.cast formats of those sizes
_SINT_FMT = {1: "<b", 2: "<h", 4: "<i", 8: "<q"}
_pack_into = struct.pack_into
_unpack_from = struct.unpack_from
_get_errno = _sys._get_errno
_ENOENT = 2


def map_type_name(t: int) -> str:
    return MAP_TYPE_NAMES.get(t, str(t))


def _resolve_type(t: int | str) -> int:
    if isinstance(t, str):
        v = MAP_TYPES.get(t.lower().removeprefix("bpf_map_type_"))
        if v is None:
            raise MapError(f"unknown map type {t!r}")
        return v
    return int(t)


def _fd_of(obj: Any) -> int:
    """An fd number from a Map/Program/FD/int/anything with fileno() or fd."""
    if isinstance(obj, int) and not isinstance(obj, bool):
        return obj
    f = getattr(obj, "fileno", None)
    if callable(f):
        return f()
    f = getattr(obj, "fd", None)
    if f is not None:
        return _fd_of(f)
    raise MapError(f"expected a map, program or file descriptor, got {type(obj).__name__}")


def _fd_like(x: Any) -> bool:
    return isinstance(x, int) or hasattr(x, "fileno") or hasattr(x, "fd")


def storage_btf(value_size: int, key_size: int = 4) -> tuple[bytes, int, int]:
    """A tiny BTF blob (int key, struct value of ``value_size`` bytes) for maps that
    insist on BTF (local storage maps). Returns (blob, key type id, value type id)."""
    from .features import _str_table, btf_array, btf_blob, btf_int, btf_struct
    strs, o = _str_table("int", "unsigned char", "corebpf_value", "data")
    types = [
        btf_int(o["int"], 4, signed=True),                          # [1] int
        btf_int(o["unsigned char"], 1, signed=False),               # [2] unsigned char
        btf_array(2, 1, value_size),                                # [3] unsigned char[N]
        btf_struct(o["corebpf_value"], value_size, [(o["data"], 3, 0)]),  # [4]
    ]
    key_id = 1
    if key_size != 4:
        types.append(btf_array(2, 1, key_size))                     # [5] key bytes
        key_id = 5
    return btf_blob(types, strs), key_id, 4


# --------------------------------------------------------------------------- codecs

def _make_codec(btf: Any, type_id: int, size: int) -> Any | None:
    try:
        from .btf.codec import Codec  # written by the BTF owner; optional here
    except ImportError:
        return None
    try:
        c = Codec(btf, type_id)
    except Exception:  # an untyped map beats no map
        return None
    return c if getattr(c, "size", None) == size else None


def _kernel_btf(btf_id: int) -> Any | None:
    """The BTF the kernel holds under ``btf_id``, parsed, if the btf package can."""
    try:
        from .btf import BTF
        return BTF.from_kernel_id(btf_id)
    except (ImportError, AttributeError, Error):
        return None


# --------------------------------------------------------------------------- Map

_MISSING: Any = object()
_INFO_KEYS = ("type", "key_size", "value_size", "max_entries")
_STATE_LOCK = allocate_lock()


class _State:
    """One thread's view of a map: its MapOps buffers and the encoders bound to them."""

    __slots__ = ("ops", "wkey", "wval", "rval")


class Map:
    """A live BPF map. ``close()`` it (or use ``with``); closed on GC as well."""

    __slots__ = ("_fd", "name", "type", "key_size", "value_size", "max_entries", "flags",
                 "id", "map_extra", "btf_id", "btf_key_type_id", "btf_value_type_id",
                 "key_codec", "value_codec", "_st", "_tid", "_others", "_percpu", "_ncpu",
                 "_stride", "_vtotal", "_mmaps", "_owner", "pinned", "btf", "_raw_view",
                 "_arena",
                 "__weakref__",
                 # element-op closures chosen per map by _bind_fast (dict syntax finds them
                 # through these slot descriptors: no method frame in between)
                 "__getitem__", "__setitem__", "__delitem__", "__contains__", "get")

    def __init__(self, fd: FD | int, info: dict | None = None, *, key_codec: Any = None,
                 value_codec: Any = None, btf: Any = None, typed: bool = True,
                 name: str | None = None, load_btf: bool = False) -> None:
        """Wrap an open map fd (ownership passes to the Map). ``info`` is a decoded
        ``bpf_map_info`` (fetched when not given). ``btf`` is a parsed BTF used to build
        codecs for the map's key/value type ids when ``typed``."""
        if not isinstance(fd, FD):
            fd = FD(int(fd), "map")
        self._fd = fd
        self._owner = True
        self._mmaps: list = []
        self._raw_view: Map | None = None
        self._arena: memoryview | None = None
        self.pinned: str | None = None
        try:
            if info is None or not all(k in info for k in _INFO_KEYS):
                info = {**_sys.map_info(fd), **(info or {})}
            self.type = info["type"]
            self.name = name or info.get("name", "")
            self.key_size = info["key_size"]
            self.value_size = info["value_size"]
            self.max_entries = info["max_entries"]
            self.flags = info.get("map_flags", 0)
            self.id = info.get("id", 0)
            self.map_extra = info.get("map_extra", 0)
            self.btf_id = info.get("btf_id", 0)
            self.btf_key_type_id = info.get("btf_key_type_id", 0)
            self.btf_value_type_id = info.get("btf_value_type_id", 0)
            if (typed and load_btf and btf is None and self.btf_id
                    and (self.btf_key_type_id or self.btf_value_type_id)
                    and key_codec is None and value_codec is None):
                btf = _kernel_btf(self.btf_id)
            self.btf = btf
            if typed and btf is not None:
                # codecs we make ourselves are dropped (raw bytes) when they do not fit
                if key_codec is None and self.btf_key_type_id:
                    key_codec = _make_codec(btf, self.btf_key_type_id, self.key_size)
                if value_codec is None and self.btf_value_type_id:
                    value_codec = _make_codec(btf, self.btf_value_type_id, self.value_size)
            for what, c, size in (("key", key_codec, self.key_size),
                                  ("value", value_codec, self.value_size)):
                csize = getattr(c, "size", size) if c is not None else size
                if csize != size:
                    raise MapError(f"map {self.name!r}: {what} codec is {csize} bytes but the "
                                   f"map's {what}_size is {size}")
            self.key_codec = key_codec
            self.value_codec = value_codec
            self._setup()
        except BaseException:
            fd.close()
            raise

    def _setup(self) -> None:
        self._percpu = self.type in PERCPU_TYPES
        self._ncpu = _sys.possible_cpus() if self._percpu else 1
        self._stride = (self.value_size + 7) & ~7 if self._percpu else self.value_size
        self._vtotal = self._stride * self._ncpu
        self._others: dict[int, _State] = {}
        self._tid = _get_ident()
        self._st = self._new_state()
        self._bind_fast()

    def _new_state(self) -> "_State":
        """Buffers, syscall partials and encoders for one thread."""
        st = _State()
        ops = st.ops = _sys.MapOps(self._fd.fd, self.key_size, self._vtotal, self.name)
        st.wkey = self._writer(ops.key, self.key_size, self.key_codec, "key")
        if self._percpu:
            st.wval = self._percpu_writer(ops)
            st.rval = self._percpu_reader(ops)
        else:
            st.wval = self._writer(ops.value, self.value_size, self.value_codec, "value")
            if self.type in FD_VALUE_TYPES and self.value_codec is None:
                st.rval = self._int_reader(ops.value, self.value_size)
            else:
                st.rval = self._reader(ops.value, self.value_size, self.value_codec)
        return st

    def _thread_state(self) -> "_State":
        """The state of the calling thread (not the one that made the map): each thread
        gets its own buffers, so concurrent m[k] / m[k] = v never mix keys or values."""
        tid = _get_ident()
        st = self._others.get(tid)
        if st is None:
            if self._fd.closed:
                return self._st   # its ops are invalidated: the call fails as "closed"
            with _STATE_LOCK:
                st = self._others.get(tid)
                if st is None:
                    if len(self._others) > 64:   # threads come and go: forget old ones
                        self._others.clear()
                    st = self._others[tid] = self._new_state()
        return st

    def _s(self) -> "_State":
        return self._st if _get_ident() == self._tid else self._thread_state()

    # -- encoding ------------------------------------------------------------------

    def _writer(self, buf: Any, size: int, codec: Any, what: str) -> Any:
        mv = memoryview(buf).cast("B")[:size]
        fmt = _INT_FMT.get(size)
        name = self.name
        fdvals = what == "value" and self.type in FD_VALUE_TYPES

        def slow(v: Any) -> None:
            if codec is not None:
                try:
                    v = codec.encode(v)
                except MapError:
                    raise
                except Exception as e:
                    raise MapError(f"map {name!r}: cannot encode {what} {v!r}: {e}") from e
            if isinstance(v, bool):
                v = int(v)
            if not isinstance(v, (int, bytes, bytearray, memoryview)) and fdvals:
                v = _fd_of(v)
            if isinstance(v, int):
                try:
                    mv[:] = v.to_bytes(size, "little", signed=v < 0)
                except OverflowError:
                    raise MapError(f"map {name!r}: {what} {v} does not fit in {size} "
                                   f"bytes") from None
                return
            try:
                b = memoryview(v).cast("B")
            except TypeError:
                raise MapError(f"map {name!r}: {what} must be bytes or int, got "
                               f"{type(v).__name__}") from None
            if b.nbytes != size:
                raise MapError(f"map {name!r}: {what} is {b.nbytes} bytes but the map's "
                               f"{what}_size is {size}")
            mv[:] = b

        if codec is not None:
            enc = codec.encode

            def typed(v: Any) -> None:
                # a codec's bytes are its size (checked when the map was made): copy them
                # straight in; anything odd (a hand-made codec) gets the full checks
                try:
                    b = enc(v)
                except MapError:
                    raise
                except Exception as e:
                    raise MapError(f"map {name!r}: cannot encode {what} {v!r}: {e}") from e
                try:
                    mv[:] = b
                except (ValueError, TypeError):
                    slow(v)   # names the problem (size, type)
            if not fdvals:
                return typed
        if codec is None and fmt is not None:
            pack = struct.Struct(fmt).pack_into

            def write(v: Any) -> None:
                if type(v) is int:
                    try:
                        pack(buf, 0, v)
                        return
                    except struct.error:
                        pass
                slow(v)
            return write
        return slow

    def _reader(self, buf: Any, size: int, codec: Any) -> Any:
        if codec is not None:
            dec = codec.decode
            if len(buf) == size:
                def read_exact() -> Any:
                    return dec(buf.raw)
                return read_exact

            def read() -> Any:
                return dec(buf.raw[:size])
            return read
        if size == 0:
            return lambda: b""
        if len(buf) == size:   # the buffer is exactly one element: no slicing
            return partial(type(buf).raw.__get__, buf)

        def read_raw() -> bytes:
            return buf.raw[:size]
        return read_raw

    @staticmethod
    def _int_reader(buf: Any, size: int) -> Any:
        fmt = _INT_FMT.get(size)
        if fmt is None:
            return lambda: buf.raw[:size]
        return lambda: _unpack_from(fmt, buf, 0)[0]

    def _percpu_writer(self, ops: Any) -> Any:
        ncpu, stride, vs = self._ncpu, self._stride, self.value_size
        buf = ops.value
        mv = memoryview(buf).cast("B")
        name = self.name   # not self: the map's closures must not keep it alive
        one = _ElemEncoder(vs, self.value_codec, name)

        def write(v: Any) -> None:
            if isinstance(v, (list, tuple)):
                if len(v) != ncpu:
                    raise MapError(f"map {name!r}: per-CPU value needs {ncpu} items "
                                   f"(possible CPUs), got {len(v)}")
                for i, x in enumerate(v):
                    mv[i * stride:i * stride + vs] = one(x)
            else:  # one value for every CPU
                b = one(v)
                for i in range(ncpu):
                    mv[i * stride:i * stride + vs] = b
        return write

    def _percpu_reader(self, ops: Any) -> Any:
        ncpu, stride, vs = self._ncpu, self._stride, self.value_size
        buf = ops.value
        codec = self.value_codec

        def read() -> list:
            raw = buf.raw
            vals = [raw[i * stride:i * stride + vs] for i in range(ncpu)]
            if codec is not None:
                return [codec.decode(v) for v in vals]
            return vals
        return read

    def _encode_key(self, key: Any) -> bytes:
        st = self._s()
        st.wkey(key)
        return st.ops.key.raw[:self.key_size]

    def _encode_value(self, value: Any) -> bytes:
        st = self._s()
        st.wval(value)
        return st.ops.value.raw[:self._vtotal]

    def _decode_key(self, raw: bytes) -> Any:
        return self.key_codec.decode(raw) if self.key_codec is not None else raw

    def _decode_value(self, raw: bytes) -> Any:
        if self._percpu:
            vs, st = self.value_size, self._stride
            vals = [raw[i * st:i * st + vs] for i in range(self._ncpu)]
            if self.value_codec is not None:
                return [self.value_codec.decode(v) for v in vals]
            return vals
        if self.value_codec is not None:
            return self.value_codec.decode(raw)
        if self.type in FD_VALUE_TYPES and self.value_size in _INT_FMT:
            return _unpack_from(_INT_FMT[self.value_size], raw, 0)[0]
        return raw

    # -- constructors --------------------------------------------------------------

    @classmethod
    def create(cls, type: int | str, key_size: int | None = None,
               value_size: int | None = None, max_entries: int | None = None,
               flags: int | None = None, *, name: str | None = None, inner_map: Any = None,
               btf: Any = None, key_type_id: int = 0, value_type_id: int = 0,
               vmlinux_value_type_id: int = 0, numa_node: int | None = None,
               map_extra: int = 0, ifindex: int = 0, key_codec: Any = None,
               value_codec: Any = None, btf_types: Any = None) -> "Map":
        """Create a map. Sizes, max_entries and flags left out take defaults that suit the
        type (e.g. PERF_EVENT_ARRAY gets one slot per possible CPU, local storage maps get
        BPF_F_NO_PREALLOC and a generated BTF value type, *_OF_MAPS an ARRAY inner map).

        ``btf`` is a loaded BTF (fd, FD or object with fileno()) holding ``key_type_id`` /
        ``value_type_id``; ``btf_types`` the parsed BTF to type keys/values with.
        """
        t = _resolve_type(type)
        dk, dv, dm, dfl = _DEFAULTS.get(t, (4, 8, 1024, 0))
        ks = dk if key_size is None else key_size
        vs = dv if value_size is None else value_size
        me = dm if max_entries is None else max_entries
        fl = dfl if flags is None else flags
        if t == PERF_EVENT_ARRAY and me == 0:
            me = _sys.possible_cpus()
        if t == CPUMAP and me == 0:
            me = _sys.possible_cpus()
        if numa_node is not None:
            fl |= BPF_F_NUMA_NODE
        tmp: list = []
        try:
            btf_fd = btf
            if btf is not None and not _fd_like(btf) and hasattr(btf, "raw"):
                # a parsed BTF (corebpf.btf.BTF): load it for the kernel, type with it
                btf_types = btf if btf_types is None else btf_types
                btf_fd = _sys.btf_load(bytes(btf.raw))
                tmp.append(btf_fd)
            if t in LOCAL_STORAGE_TYPES and btf is None:
                blob, key_type_id, value_type_id = storage_btf(vs, ks)
                btf_fd = _sys.btf_load(blob)
                tmp.append(btf_fd)
            elif t == STRUCT_OPS and btf is None and vmlinux_value_type_id:
                # the kernel wants some BTF fd alongside the vmlinux value type id
                btf_fd = _sys.btf_load(storage_btf(4)[0])
                tmp.append(btf_fd)
            inner_fd = None
            if t in (ARRAY_OF_MAPS, HASH_OF_MAPS):
                if inner_map is None:
                    inner = _sys.map_create(ARRAY, 4, 8, 1, map_name="inner")
                    tmp.append(inner)
                    inner_fd = inner
                else:
                    inner_fd = _fd_of(inner_map)
            fd = _sys.map_create(t, ks, vs, me, fl, inner_map_fd=inner_fd,
                                 numa_node=numa_node or 0, map_name=name, map_ifindex=ifindex,
                                 btf_fd=btf_fd, btf_key_type_id=key_type_id,
                                 btf_value_type_id=value_type_id,
                                 btf_vmlinux_value_type_id=vmlinux_value_type_id,
                                 map_extra=map_extra)
        finally:
            for x in tmp:
                x.close()
        info = {"type": t, "name": _sys._name16(name).decode(), "key_size": ks,
                "value_size": vs, "max_entries": me, "map_flags": fl,
                "map_extra": map_extra, "btf_key_type_id": key_type_id,
                "btf_value_type_id": value_type_id}
        try:
            info["id"] = _sys.map_info(fd)["id"]
        except KernelError:
            info["id"] = 0
        return cls(fd, info, key_codec=key_codec, value_codec=value_codec, btf=btf_types)

    @classmethod
    def from_fd(cls, fd: int | FD, **kw: Any) -> "Map":
        """Wrap a map fd (a dup of it when given an int, so the caller keeps theirs)."""
        if isinstance(fd, int):
            try:
                fd = FD(os.dup(fd), "map")
            except OSError as e:
                raise _sys.error_from_errno("dup map fd", e.errno or 9) from None
        kw.setdefault("load_btf", True)
        return cls(fd, **kw)

    @classmethod
    def from_id(cls, map_id: int, **kw: Any) -> "Map":
        """Open the map with kernel id ``map_id``."""
        kw.setdefault("load_btf", True)
        return cls(_sys.map_get_fd_by_id(map_id), **kw)

    @classmethod
    def from_pin(cls, path: str, *, readonly: bool = False, **kw: Any) -> "Map":
        """Open the map pinned at ``path``."""
        fd = _sys.obj_get(path, BPF_F_RDONLY if readonly else 0, kind="map")
        kw.setdefault("load_btf", True)
        m = cls(fd, **kw)
        m.pinned = path
        return m

    # -- life cycle ----------------------------------------------------------------

    @property
    def fd(self) -> int:
        return self._fd.fd

    def fileno(self) -> int:
        return self._fd.fd

    @property
    def closed(self) -> bool:
        return self._fd.closed

    def close(self) -> None:
        """Close the map fd (and unmap what ``mmap()`` mapped)."""
        mms, self._mmaps = self._mmaps, []
        for view, mm in mms:
            try:
                view.release()
            except Exception:
                pass
            try:
                mm.close()
            except BufferError:
                # A view derived from ours is still alive; the mapping goes with it.
                pass
        arena, self._arena = self._arena, None
        if arena is not None and self._owner:
            try:
                arena.release()   # unmapped once no view sliced from it is left either
            except BufferError:
                pass   # something exports it still (ctypes from_buffer): it keeps it mapped
        rv, self._raw_view = self._raw_view, None
        if rv is not None:
            rv.close()
        st = getattr(self, "_st", None)
        if st is not None:
            st.ops.invalidate()
            for o in list(self._others.values()):
                o.ops.invalidate()
        if self._owner:
            self._fd.close()

    def __enter__(self) -> "Map":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._fd.closed else f"fd={self._fd._fd}"
        return (f"<Map {self.name!r} {map_type_name(self.type)} key={self.key_size} "
                f"value={self.value_size} max_entries={self.max_entries} {state}>")

    def pin(self, path: str) -> None:
        """Pin the map at ``path`` (on bpffs)."""
        _sys.obj_pin(self._fd, path)
        self.pinned = path

    def unpin(self, path: str | None = None) -> None:
        """Remove the pin made by ``pin()`` (or the one at ``path``)."""
        p = path or self.pinned
        if not p:
            raise MapError(f"map {self.name!r} is not pinned")
        _sys.unpin(p)
        if p == self.pinned:
            self.pinned = None

    def info(self) -> _sys.Info:
        """The kernel's ``bpf_map_info`` for this map."""
        return _sys.map_info(self._fd)

    def freeze(self) -> None:
        """Make the map read-only for user space (BPF_MAP_FREEZE)."""
        try:
            _sys.map_freeze(self._fd)
        except KernelError as e:
            e.detail = f"map {self.name!r}"
            raise

    @property
    def raw(self) -> "Map":
        """A view of this map with bytes keys and values (same map, closed with it)."""
        if self._raw_view is None:
            v = Map.__new__(Map)
            for s in Map.__slots__:
                if s != "__weakref__" and hasattr(self, s):
                    object.__setattr__(v, s, getattr(self, s))
            v._owner = False
            v._mmaps = []
            v._raw_view = None
            v.key_codec = v.value_codec = None
            v._setup()
            self._raw_view = v
        return self._raw_view

    # -- element ops ---------------------------------------------------------------

    def _err(self, cmd: int, what: str = "") -> Error:
        if self._fd.closed:
            return MapError(f"map {self.name!r} is closed")
        return self._st.ops.error(cmd, f"map {self.name!r}" + (f": {what}" if what else ""))

    # The five dict operations below are *generic* versions: other threads, keyless and
    # key-less map types use them. The creating thread normally never reaches them: the
    # slots ``__getitem__``, ``__setitem__``, ``__delitem__``, ``__contains__`` and ``get``
    # hold closures chosen once per map by ``_bind_fast`` (see there).

    def _getitem_any(self, key: Any) -> Any:
        st = self._s()
        st.wkey(key)
        if st.ops._lookup() < 0:
            if _get_errno() == _ENOENT:
                raise KeyError(key)
            raise self._err(BPF_MAP_LOOKUP_ELEM, f"key {key!r}")
        return st.rval()

    def _get_any(self, key: Any, default: Any = None) -> Any:
        st = self._s()
        st.wkey(key)
        if st.ops._lookup() < 0:
            if _get_errno() == _ENOENT:
                return default
            raise self._err(BPF_MAP_LOOKUP_ELEM, f"key {key!r}")
        return st.rval()

    def _contains_any(self, key: Any) -> bool:
        if self.type == BLOOM_FILTER:
            return self._bloom_has(key)
        st = self._s()
        st.wkey(key)
        if st.ops._lookup() < 0:
            if _get_errno() == _ENOENT:
                return False
            raise self._err(BPF_MAP_LOOKUP_ELEM, f"key {key!r}")
        return True

    def _setitem_any(self, key: Any, value: Any) -> None:
        st = self._s()
        st.wkey(key)
        st.wval(value)
        if st.ops._update() < 0:
            raise self._err(BPF_MAP_UPDATE_ELEM, f"key {key!r}")

    def _delitem_any(self, key: Any) -> None:
        st = self._s()
        st.wkey(key)
        if st.ops._delete() < 0:
            if _get_errno() == _ENOENT:
                raise KeyError(key)
            raise self._err(BPF_MAP_DELETE_ELEM, f"key {key!r}")

    def _bind_fast(self) -> None:
        """Put the element-op closures for this map into the instance slots.

        Python finds ``m[k]``/``m[k] = v``/``del m[k]``/``k in m`` through the type, and
        the type's entries for them are the slot descriptors, so each call lands directly
        in a closure made here for this map's kind of key and value: no method frame, no
        attribute look-ups, no isinstance chain. Raw int/bytes keys and values are written
        inline (``type(x) is int`` -> ``Struct.pack_into``, ``type(x) is bytes`` -> slice
        assignment into a view of the key buffer); typed, per-CPU and fd values go through
        the writers of ``_new_state``. Any thread but the creating one takes the generic
        methods (their own buffers). The closures hold the map only weakly: a map dropped
        without close() is still closed by reference counting, not by the cyclic GC.
        """
        ref = _weakref(self)
        if self.type in KEYLESS_TYPES or self.key_size == 0:
            def getitem(key: Any) -> Any:
                return _alive(ref)._getitem_any(key)

            def get(key: Any, default: Any = None) -> Any:
                return _alive(ref)._get_any(key, default)

            def contains(key: Any) -> bool:
                return _alive(ref)._contains_any(key)

            def setitem(key: Any, value: Any) -> None:
                _alive(ref)._setitem_any(key, value)

            def delitem(key: Any) -> None:
                _alive(ref)._delitem_any(key)
        else:
            getitem, get, contains, setitem, delitem = _fast_ops(self, ref)
        self.__getitem__, self.get, self.__contains__ = getitem, get, contains
        self.__setitem__, self.__delitem__ = setitem, delitem

    def lookup(self, key: Any, flags: int = 0) -> Any:
        """The value at ``key``; raises NotFound if there is none."""
        st = self._st if _get_ident() == self._tid else self._thread_state()
        ops = st.ops
        st.wkey(key)
        ops.set_flags(flags)
        if ops._lookup_f() < 0:
            raise self._err(BPF_MAP_LOOKUP_ELEM, f"key {key!r}")
        return st.rval()

    def update(self, key: Any, value: Any, flags: int = BPF_ANY) -> None:
        """Set ``key`` to ``value`` with BPF_ANY / BPF_NOEXIST / BPF_EXIST (| BPF_F_LOCK)."""
        st = self._st if _get_ident() == self._tid else self._thread_state()
        ops = st.ops
        st.wkey(key)
        st.wval(value)
        ops.set_flags(flags)
        if ops._update_f() < 0:
            raise self._err(BPF_MAP_UPDATE_ELEM, f"key {key!r} flags {flags:#x}")

    def delete(self, key: Any) -> None:
        """Delete ``key``; raises NotFound if absent."""
        st = self._s()
        st.wkey(key)
        if st.ops._delete() < 0:
            raise self._err(BPF_MAP_DELETE_ELEM, f"key {key!r}")

    def pop(self, key: Any = _MISSING, default: Any = _MISSING) -> Any:
        """Dict-style pop for keyed maps; queue/stack pop when called without a key."""
        if self.type in KEYLESS_TYPES:
            if key is not _MISSING and default is _MISSING:
                default = key
            return self._keyless_take(True, default)
        if key is _MISSING:
            raise MapError(f"map {self.name!r}: pop() needs a key")
        try:
            return self.lookup_and_delete(key)
        except NotFound:
            if default is _MISSING:
                raise KeyError(key) from None
            return default
        except KernelError as e:
            if e.errno not in (22, 95, 524):
                raise
        # map types without lookup_and_delete: two steps
        v = self.get(key, _MISSING)
        if v is _MISSING:
            if default is _MISSING:
                raise KeyError(key)
            return default
        del self[key]
        return v

    def lookup_and_delete(self, key: Any = None, flags: int = 0) -> Any:
        """Atomically read and remove ``key`` (or the head of a queue/stack)."""
        st = self._st if _get_ident() == self._tid else self._thread_state()
        ops = st.ops
        if self.key_size:
            st.wkey(key)
        ops.set_flags(flags)
        if ops._lookup_and_delete_f() < 0:
            raise self._err(BPF_MAP_LOOKUP_AND_DELETE_ELEM,
                            f"key {key!r}" if self.key_size else "empty")
        return st.rval()

    # -- queue / stack / bloom -----------------------------------------------------

    def push(self, value: Any, flags: int = BPF_ANY) -> None:
        """Queue/stack: push ``value`` (BPF_EXIST overwrites the oldest when full).
        Bloom filter: add ``value``."""
        if self.type not in KEYLESS_TYPES:
            raise MapError(f"map {self.name!r}: push() is for queue, stack and bloom filter "
                           f"maps, not {map_type_name(self.type)}")
        st = self._st if _get_ident() == self._tid else self._thread_state()
        ops = st.ops
        st.wval(value)
        ops.set_flags(flags)
        if ops._update_f() < 0:
            raise self._err(BPF_MAP_UPDATE_ELEM, "push")

    def _keyless_take(self, remove: bool, default: Any) -> Any:
        if self.type not in (QUEUE, STACK):
            raise MapError(f"map {self.name!r}: pop()/peek() are for queue and stack maps")
        st = self._st if _get_ident() == self._tid else self._thread_state()
        ops = st.ops
        r = ops._lookup_and_delete() if remove else ops._lookup()
        if r < 0:
            if _get_errno() == _ENOENT and default is not _MISSING:
                return default
            raise self._err(BPF_MAP_LOOKUP_AND_DELETE_ELEM if remove else BPF_MAP_LOOKUP_ELEM,
                            "empty" if _get_errno() == _ENOENT else "")
        return st.rval()

    def peek(self, default: Any = _MISSING) -> Any:
        """Queue/stack: the next value without removing it (NotFound when empty)."""
        return self._keyless_take(False, default)

    def _bloom_has(self, value: Any) -> bool:
        st = self._st if _get_ident() == self._tid else self._thread_state()
        ops = st.ops
        st.wval(value)
        if ops._lookup() < 0:
            if _get_errno() == _ENOENT:
                return False
            raise self._err(BPF_MAP_LOOKUP_ELEM, "bloom filter check")
        return True

    # -- iteration -----------------------------------------------------------------

    def _iter_state(self) -> "_State":
        if self.type in KEYLESS_TYPES or self.key_size == 0:
            raise MapError(f"map {self.name!r}: {map_type_name(self.type)} maps have no keys")
        if self._fd.closed:
            raise MapError(f"map {self.name!r} is closed")
        return self._s()

    def _raw_keys(self) -> Iterator[bytes]:
        ops = self._iter_state().ops
        ks = self.key_size
        nxt = ops.next
        exact = len(nxt) == ks
        kmv = memoryview(ops.key).cast("B")[:ks]
        more = ops.next_key(True)
        while more:
            k = nxt.raw if exact else nxt.raw[:ks]
            yield k
            kmv[:] = k  # continue from here (the caller may have used the buffers)
            more = ops.next_key(False)

    def keys(self) -> Iterator[Any]:
        """Iterate over the keys (BPF_MAP_GET_NEXT_KEY)."""
        dec = self.key_codec.decode if self.key_codec is not None else None
        for k in self._raw_keys():
            yield dec(k) if dec else k

    __iter__ = keys

    def items(self) -> Iterator[tuple[Any, Any]]:
        """Iterate over (key, value); entries deleted meanwhile are skipped."""
        st = self._iter_state()
        ops, rval = st.ops, st.rval
        ks = self.key_size
        kdec = self.key_codec.decode if self.key_codec is not None else None
        nxt = ops.next
        exact = len(nxt) == ks
        kmv = memoryview(ops.key).cast("B")[:ks]
        lookup, next_key = ops._lookup, ops.next_key
        more = next_key(True)
        while more:
            k = nxt.raw if exact else nxt.raw[:ks]
            kmv[:] = k   # look this key up, then continue from it
            if lookup() < 0:
                if _get_errno() != _ENOENT:
                    raise self._err(BPF_MAP_LOOKUP_ELEM)
            else:
                yield (kdec(k) if kdec else k), rval()
                kmv[:] = k   # the caller may have used the buffers meanwhile
            more = next_key(False)

    def values(self) -> Iterator[Any]:
        for _, v in self.items():
            yield v

    def __len__(self) -> int:
        """Number of entries (arrays: max_entries; others: counted by iteration)."""
        if self.type in ARRAY_TYPES:
            return self.max_entries
        if self.type in KEYLESS_TYPES or self.key_size == 0:
            raise MapError(f"map {self.name!r}: len() is not defined for "
                           f"{map_type_name(self.type)} maps")
        n = 0
        for _ in self._raw_keys():
            n += 1
        return n

    def __bool__(self) -> bool:
        return True

    def clear(self) -> None:
        """Delete every key (hash-like maps)."""
        st = self._s()
        for k in list(self._raw_keys()):
            st.ops.key[:self.key_size] = k
            if st.ops._delete() < 0 and _get_errno() != _ENOENT:
                raise self._err(BPF_MAP_DELETE_ELEM)

    # -- batch ops -----------------------------------------------------------------

    def _buf(self, data: Any, elem: int, what: str) -> tuple[Any, int]:
        """Turn keys/values given as a buffer or a sequence of Python values into a
        buffer; returns (buffer, element count)."""
        if isinstance(data, (list, tuple)):
            enc = self._encode_key if what == "keys" else self._encode_value
            b = b"".join(enc(x) for x in data)
            return b, len(data)
        try:
            n = memoryview(data).nbytes
        except TypeError:
            raise MapError(f"map {self.name!r}: {what} must be a buffer or a list, got "
                           f"{type(data).__name__}") from None
        if elem == 0 or n % elem:
            raise MapError(f"map {self.name!r}: {what} buffer of {n} bytes is not a "
                           f"multiple of {elem}")
        return data, n // elem

    def update_batch(self, keys: Any, values: Any, flags: int = BPF_ANY,
                     elem_flags: int | None = None) -> int:
        """BPF_MAP_UPDATE_BATCH from buffers (bytes, memoryview, numpy arrays, ...) of
        packed keys and values, or from lists of keys and values. Returns the count."""
        kb, n = self._buf(keys, self.key_size, "keys")
        vb, m = self._buf(values, self._vtotal, "values")
        if n != m:
            raise MapError(f"map {self.name!r}: {n} keys but {m} values")
        if n == 0:
            return 0
        ef = flags if elem_flags is None else elem_flags
        try:
            return _sys.map_update_batch(self._fd, kb, vb, n, ef, 0)
        except KernelError as e:
            e.detail = f"map {self.name!r}: {e.detail}"
            raise

    def delete_batch(self, keys: Any) -> int:
        """BPF_MAP_DELETE_BATCH of packed keys (or a list of keys). Returns the count."""
        kb, n = self._buf(keys, self.key_size, "keys")
        if n == 0:
            return 0
        try:
            return _sys.map_delete_batch(self._fd, kb, n)
        except KernelError as e:
            e.detail = f"map {self.name!r}: {e.detail}"
            raise

    def lookup_batch(self, keys: Any = None, values: Any = None, *,
                     chunk: int | None = None, delete: bool = False,
                     elem_flags: int = 0) -> tuple[int, Any, Any]:
        """Read the whole map with BPF_MAP_LOOKUP_BATCH (``delete``: ..._AND_DELETE_BATCH).

        ``keys``/``values`` are writable buffers (bytearray, numpy arrays, ...) filled in
        place; by default bytearrays of max_entries elements are made. Returns
        (count, keys, values) with the buffers trimmed to ``count`` elements when we made
        them. ``chunk`` is the number of elements asked per syscall.
        """
        ks, vt = self.key_size, self._vtotal
        cap = self.max_entries
        if keys is None:
            keys = bytearray(cap * ks)
            mine = True
        else:
            mine = False
            cap = memoryview(keys).nbytes // ks if ks else 0
        if values is None:
            values = bytearray(cap * vt)
        else:
            cap = min(cap, memoryview(values).nbytes // vt)
        kmv = memoryview(keys).cast("B")
        vmv = memoryview(values).cast("B")
        tok_in = bytearray(max(ks, 8))
        tok_out = bytearray(max(ks, 8))
        step = chunk or max(cap, 1)
        total = 0
        first = True
        fn = _sys.map_lookup_and_delete_batch if delete else _sys.map_lookup_batch
        while total < cap:
            want = min(step, cap - total)
            try:
                n, done = fn(self._fd, kmv[total * ks:(total + want) * ks],
                             vmv[total * vt:(total + want) * vt], want,
                             None if first else tok_in, tok_out, elem_flags, 0)
            except KernelError as e:
                if e.errno == 28 and want < cap - total:  # ENOSPC: a bucket is bigger
                    step *= 2
                    continue
                e.detail = f"map {self.name!r}: {e.detail}"
                raise
            total += n
            if done:
                break
            tok_in[:] = tok_out
            first = False
        kmv.release()
        vmv.release()
        if mine:
            del keys[total * ks:]
            del values[total * vt:]
        return total, keys, values

    def lookup_and_delete_batch(self, keys: Any = None, values: Any = None, *,
                                chunk: int | None = None) -> tuple[int, Any, Any]:
        return self.lookup_batch(keys, values, chunk=chunk, delete=True)

    def items_batch(self) -> list[tuple[Any, Any]]:
        """All (key, value) pairs, read with batch lookups and decoded."""
        n, kb, vb = self.lookup_batch()
        ks, vt = self.key_size, self._vtotal
        return [(self._decode_key(bytes(kb[i * ks:(i + 1) * ks])),
                 self._decode_value(bytes(vb[i * vt:(i + 1) * vt]))) for i in range(n)]

    # -- mmap ----------------------------------------------------------------------

    @property
    def arena(self) -> memoryview | None:
        """The memory of an ARENA map (``max_entries`` pages, read-write), mapped when
        ``corebpf.load`` created it or by :meth:`mmap`; None otherwise. Global ``__arena``
        variables start at offset 0 (libbpf 1.5). Released when the map is closed."""
        return self._arena

    def mmap(self, writable: bool | None = None) -> memoryview:
        """Map the values of a BPF_F_MMAPABLE array (or an arena) into memory; the view
        is released (and unmapped) when the map is closed. An arena is mapped once per
        process, at its user address (``map_extra`` when set): the same view each time."""
        if not self.flags & BPF_F_MMAPABLE:
            raise MapError(f"map {self.name!r} was not created with BPF_F_MMAPABLE")
        if self.type == ARENA:
            if self._arena is None:
                self._arena = _sys.mmap_arena(self._fd, self.max_entries * _PAGE,
                                              self.map_extra or 0,
                                              what=f"mmap arena map {self.name!r}")
            return self._arena
        size = ((self.value_size + 7) & ~7) * self.max_entries
        size = (size + _PAGE - 1) // _PAGE * _PAGE
        if writable is None:
            writable = True
        try:
            mm = _sys.mmap_fd(self._fd, size, writable=writable, what=f"mmap map {self.name!r}")
        except KernelError as e:
            if writable and e.errno == 1:  # frozen maps can only be mapped read-only
                mm = _sys.mmap_fd(self._fd, size, writable=False,
                                  what=f"mmap map {self.name!r}")
            else:
                raise
        view = memoryview(mm)
        self._mmaps.append((view, mm))
        return view


class _Never:
    """A type no key or value has: ``type(k) is KI`` with ``KI = _Never`` turns an inline
    fast path off for a map without a second closure variant."""


def _alive(ref: Any) -> "Map":
    m = ref()
    if m is None:
        raise MapError("the map was garbage-collected")
    return m


def _fast_ops(m: "Map", ref: Any) -> tuple:
    """The creating thread's closures for a keyed map (see ``Map._bind_fast``)."""
    st = m._st
    ops = st.ops
    tid = m._tid
    ident, get_errno, ENOENT = _get_ident, _get_errno, _ENOENT
    wkey, wval, rval = st.wkey, st.wval, st.rval
    kbuf, vbuf = ops.key, ops.value
    raw_key = m.key_codec is None
    raw_val = m.value_codec is None and not m._percpu and m.value_size > 0
    # inline paths: KI/KB (VI/VB) are int/bytes when the inline write is right for this
    # map, _Never otherwise (then the writer made for this map decides)
    KI = int if raw_key and m.key_size in _INT_FMT else _Never
    KB = bytes if raw_key else _Never
    VI = int if raw_val and m.value_size in _INT_FMT else _Never
    VB = bytes if raw_val else _Never
    kmv = memoryview(kbuf).cast("B")[:m.key_size]
    vmv = memoryview(vbuf).cast("B")[:max(m.value_size, 1)]
    # ``kint[0] = key`` stores an unsigned int of the key's size in the key buffer; it
    # refuses (ValueError/TypeError) negatives, too big ints, ... which the map's writer
    # then handles. Native order is little-endian here (BTF and objects are LE only).
    kint = kmv.cast(_MV_FMT.get(m.key_size, "B")) if KI is int else kmv
    vint = vmv.cast(_MV_FMT.get(m.value_size, "B")) if VI is int else vmv
    VR = raw_val and m.type not in FD_VALUE_TYPES and len(vbuf) == m.value_size
    # the prebuilt syscall arguments, called here directly (no partial in between)
    sc, NR = _sys._syscall_gil, _sys.NR_BPF
    za, da = ops._attrs[0], ops._attrs[1]
    is_bloom = m.type == BLOOM_FILTER
    LK, UP, DL = BPF_MAP_LOOKUP_ELEM, BPF_MAP_UPDATE_ELEM, BPF_MAP_DELETE_ELEM

    def fail(cmd: int, key: Any) -> Error:
        return _alive(ref)._err(cmd, f"key {key!r}")

    # each op: thread check, key (int/bytes inline, else the map's writer), one prebuilt
    # syscall, errno only on failure
    def getitem(key: Any) -> Any:
        if ident() != tid:
            return _alive(ref)._getitem_any(key)
        if type(key) is KI:
            try:
                kint[0] = key
            except (ValueError, TypeError):
                wkey(key)
        elif type(key) is KB:
            try:
                kmv[:] = key
            except ValueError:
                wkey(key)
        else:
            wkey(key)
        if sc(NR, LK, za, 32) < 0:
            if get_errno() == ENOENT:
                raise KeyError(key)
            raise fail(LK, key)
        if VR:
            return vbuf.raw
        return rval()

    def get(key: Any, default: Any = None) -> Any:
        if ident() != tid:
            return _alive(ref)._get_any(key, default)
        if type(key) is KI:
            try:
                kint[0] = key
            except (ValueError, TypeError):
                wkey(key)
        elif type(key) is KB:
            try:
                kmv[:] = key
            except ValueError:
                wkey(key)
        else:
            wkey(key)
        if sc(NR, LK, za, 32) < 0:
            if get_errno() == ENOENT:
                return default
            raise fail(LK, key)
        if VR:
            return vbuf.raw
        return rval()

    def contains(key: Any) -> bool:
        if ident() != tid or is_bloom:
            return _alive(ref)._contains_any(key)
        if type(key) is KI:
            try:
                kint[0] = key
            except (ValueError, TypeError):
                wkey(key)
        elif type(key) is KB:
            try:
                kmv[:] = key
            except ValueError:
                wkey(key)
        else:
            wkey(key)
        if sc(NR, LK, za, 32) < 0:
            if get_errno() == ENOENT:
                return False
            raise fail(LK, key)
        return True

    def setitem(key: Any, value: Any) -> None:
        if ident() != tid:
            return _alive(ref)._setitem_any(key, value)
        if type(key) is KI:
            try:
                kint[0] = key
            except (ValueError, TypeError):
                wkey(key)
        elif type(key) is KB:
            try:
                kmv[:] = key
            except ValueError:
                wkey(key)
        else:
            wkey(key)
        if type(value) is VI:
            try:
                vint[0] = value
            except (ValueError, TypeError):
                wval(value)
        elif type(value) is VB:
            try:
                vmv[:] = value
            except ValueError:
                wval(value)
        else:
            wval(value)
        if sc(NR, UP, za, 32) < 0:
            raise fail(UP, key)

    def delitem(key: Any) -> None:
        if ident() != tid:
            return _alive(ref)._delitem_any(key)
        if type(key) is KI:
            try:
                kint[0] = key
            except (ValueError, TypeError):
                wkey(key)
        elif type(key) is KB:
            try:
                kmv[:] = key
            except ValueError:
                wkey(key)
        else:
            wkey(key)
        if sc(NR, DL, da, 32) < 0:
            if get_errno() == ENOENT:
                raise KeyError(key)
            raise fail(DL, key)

    return getitem, get, contains, setitem, delitem

class _ElemEncoder:
    """Encode one element to exactly ``size`` bytes (ints, bytes or through a codec)."""

    __slots__ = ("size", "codec", "name")

    def __init__(self, size: int, codec: Any, name: str) -> None:
        self.size, self.codec, self.name = size, codec, name

    def __call__(self, v: Any) -> bytes:
        if self.codec is not None:
            v = self.codec.encode(v)
        if isinstance(v, int):
            try:
                return v.to_bytes(self.size, "little", signed=v < 0)
            except OverflowError:
                raise MapError(f"map {self.name!r}: value {v} does not fit in {self.size} "
                               f"bytes") from None
        try:
            b = bytes(memoryview(v).cast("B"))
        except TypeError:
            raise MapError(f"map {self.name!r}: value must be bytes or int, got "
                           f"{type(v).__name__}") from None
        if len(b) != self.size:
            raise MapError(f"map {self.name!r}: value is {len(b)} bytes but value_size is "
                           f"{self.size}")
        return b


__all__ = ["Map", "MAP_TYPES", "MAP_TYPE_NAMES", "map_type_name", "BPF_ANY", "BPF_NOEXIST",
           "BPF_EXIST", "BPF_F_LOCK", "BPF_F_NO_PREALLOC", "BPF_F_MMAPABLE",
           "BPF_F_RDONLY_PROG", "BPF_F_WRONLY_PROG", "BPF_F_INNER_MAP", "storage_btf"]
