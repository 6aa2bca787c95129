"""Live programs: ``Program`` wraps one loaded BPF program fd.

``Program.load(type, insns, license)`` is the low-level entry (what feature probes and tests
use); ``corebpf.load(...)`` builds Programs from an object. A Program can be test-run, asked
for its kernel info and translated instructions, pinned and re-opened by pin or id, and
attached (``attach()`` hands over to ``corebpf.link``). Close it (or use ``with``) to drop
the fd; the kernel frees the program when nothing else holds it.
"""
from __future__ import annotations

import struct
TYPE_CHECKING = False  # typing costs ≈3 ms of start-up; type checkers take this as True
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, Sequence

from . import _sys
from .errors import Error, VerifierError

_PROG_INFO_SIZE = 232
_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")

_PROG_TYPE_NAMES = (
    "unspec", "socket_filter", "kprobe", "sched_cls", "sched_act", "tracepoint", "xdp",
    "perf_event", "cgroup_skb", "cgroup_sock", "lwt_in", "lwt_out", "lwt_xmit", "sock_ops",
    "sk_skb", "cgroup_device", "sk_msg", "raw_tracepoint", "cgroup_sock_addr",
    "lwt_seg6local", "lirc_mode2", "sk_reuseport", "flow_dissector", "cgroup_sysctl",
    "raw_tracepoint_writable", "cgroup_sockopt", "tracing", "struct_ops", "ext", "lsm",
    "sk_lookup", "syscall", "netfilter")


def prog_type_name(t: int) -> str:
    return _PROG_TYPE_NAMES[t] if 0 <= t < len(_PROG_TYPE_NAMES) else str(t)


class ProgramInfo:
    """What the kernel reports about a program (``BPF_OBJ_GET_INFO_BY_FD``)."""

    __slots__ = ("type", "id", "tag", "name", "jited_len", "xlated_len", "map_ids",
                 "load_time", "created_by_uid", "btf_id", "run_time_ns", "run_cnt",
                 "recursion_misses", "verified_insns", "gpl_compatible", "nr_line_info",
                 "nr_func_info", "attach_btf_id", "attach_btf_obj_id")

    @property
    def type_name(self) -> str:
        return prog_type_name(self.type)

    def __repr__(self) -> str:
        return (f"<ProgramInfo id={self.id} {self.name!r} {self.type_name} tag={self.tag} "
                f"xlated={self.xlated_len} jited={self.jited_len} maps={self.map_ids}>")


def _info_raw(fd: Any, xlated: bool = False, map_ids: int = 0, line_info: int = 0,
              func_info: int = 0) -> tuple[bytes, dict[str, bytes]]:
    """Raw ``bpf_prog_info`` plus the arrays asked for (sized by a first call)."""
    import ctypes
    first = _sys.obj_get_info_by_fd(fd, _PROG_INFO_SIZE).ljust(_PROG_INFO_SIZE, b"\0")
    if not (xlated or map_ids or line_info or func_info):
        return first, {}
    req = ctypes.create_string_buffer(_PROG_INFO_SIZE)
    bufs: dict[str, Any] = {}

    def ask(name: str, ptr_off: int, nbytes: int) -> None:
        b = ctypes.create_string_buffer(max(nbytes, 1))
        bufs[name] = (b, nbytes)
        struct.pack_into("<Q", req, ptr_off, ctypes.addressof(b) if nbytes else 0)

    if xlated:
        n = _U32.unpack_from(first, 20)[0]
        struct.pack_into("<I", req, 20, n)
        ask("xlated", 32, n)
    if map_ids:
        n = _U32.unpack_from(first, 52)[0]
        struct.pack_into("<I", req, 52, n)
        ask("map_ids", 56, 4 * n)
    if line_info:
        n, rec = _U32.unpack_from(first, 148)[0], _U32.unpack_from(first, 172)[0] or 16
        struct.pack_into("<I", req, 148, n)
        struct.pack_into("<I", req, 172, rec)
        ask("line_info", 152, n * rec)
    if func_info:
        n, rec = _U32.unpack_from(first, 144)[0], _U32.unpack_from(first, 132)[0] or 8
        struct.pack_into("<I", req, 144, n)
        struct.pack_into("<I", req, 132, rec)
        ask("func_info", 136, n * rec)
    second = _sys.obj_get_info_by_fd(fd, req).ljust(_PROG_INFO_SIZE, b"\0")
    return second, {k: b.raw[:n] for k, (b, n) in bufs.items()}


class TestRunResult:
    """Result of ``Program.test_run``: ``retval``, ``duration`` (ns per run), ``data_out``
    and ``ctx_out`` (bytes or None)."""

    __slots__ = ("retval", "duration", "data_out", "ctx_out")

    def __init__(self, retval: int, duration: int, data_out: bytes | None,
                 ctx_out: bytes | None) -> None:
        self.retval, self.duration = retval, duration
        self.data_out, self.ctx_out = data_out, ctx_out

    def __repr__(self) -> str:
        n = None if self.data_out is None else len(self.data_out)
        return f"TestRunResult(retval={self.retval}, duration={self.duration}, data_out={n} bytes)"


class Program:
    """A loaded BPF program (owns its fd).

    Attributes: ``name``, ``type`` (BPF_PROG_TYPE_*), ``section`` and ``spec`` (when it came
    from an object), ``expected_attach_type``, ``attach_to``, ``log`` (verifier log when
    loaded with ``log_level`` > 0), ``pinned`` (path or None).
    """

    __slots__ = ("_fd", "name", "type", "section", "spec", "expected_attach_type",
                 "attach_to", "attach_btf_id", "log", "pinned", "linked", "object",
                 "__weakref__")

    def __init__(self, fd: Any, name: str = "", type: int = 0, *, section: str = "",
                 spec: Any = None, expected_attach_type: int | None = None,
                 attach_to: str = "", attach_btf_id: int = 0) -> None:
        self._fd = fd if isinstance(fd, _sys.FD) else _sys.FD(int(fd), "prog")
        self.name = name
        self.type = type
        self.section = section
        self.spec = spec
        self.expected_attach_type = expected_attach_type
        self.attach_to = attach_to
        self.attach_btf_id = attach_btf_id
        self.log = ""
        self.pinned: str | None = None
        self.linked: Any = None
        self.object: Any = None

    # -- creation ---------------------------------------------------------------------
    @classmethod
    def load(cls, type: int, insns: Any, license: str = "GPL", *, name: str = "",
             expected_attach_type: int | None = None, attach_btf_id: int = 0,
             attach_btf_obj_fd: Any = None, attach_prog_fd: Any = None, btf_fd: Any = None,
             func_info: Any = None, line_info: Any = None, kern_version: int = 0,
             flags: int = 0, log_level: int = 0, log_size: int = 0,
             fd_array: Sequence[Any] | None = None, ifindex: int = 0,
             source: Any = None) -> "Program":
        """BPF_PROG_LOAD raw instructions (``insns``: bytes-like or list of Instruction).

        ``func_info``/``line_info``: packed records (bytes) or lists of
        ``(insn_off, type_id)`` / ``(insn_off, file_name_off, line_off, line_col)`` with
        ``btf_fd`` the object's BTF. With ``log_level`` 0 the first attempt has no log (fast);
        a refusal is retried with ``log_level=1`` to explain it. ``source(insn) -> str|None``
        names the C line of an instruction for the error message.
        Raises ``VerifierError`` (with ``.log``, ``.instruction``, ``.source``),
        ``PermissionDenied`` or another ``KernelError``.
        """
        if not isinstance(insns, (bytes, bytearray, memoryview)):
            from .asm import encode
            insns = encode(list(insns))
        fi = _pack_records(func_info, "<II")
        li = _pack_records(line_info, "<IIII")
        kw: dict[str, Any] = {}
        if attach_btf_obj_fd is not None:
            kw["attach_btf_obj_fd"] = attach_btf_obj_fd
        if attach_prog_fd is not None:
            kw["attach_prog_fd"] = attach_prog_fd
        try:
            fd, log = _sys.prog_load_with_log(
                type, insns, license, log_level=log_level, log_size=log_size,
                kern_version=kern_version, prog_flags=flags, prog_name=name,
                prog_ifindex=ifindex, expected_attach_type=expected_attach_type or 0,
                prog_btf_fd=btf_fd if (fi is not None or li is not None) else None,
                func_info=fi, line_info=li, attach_btf_id=attach_btf_id,
                fd_array=fd_array or None, **kw)
        except VerifierError as e:
            raise explain_verifier_error(e, name or e.program, source) from None
        p = cls(fd, name, type, expected_attach_type=expected_attach_type,
                attach_btf_id=attach_btf_id)
        p.log = log
        return p

    @classmethod
    def from_pin(cls, path: str) -> "Program":
        """Open the program pinned at ``path``."""
        fd = _sys.obj_get(path, kind="prog")
        try:
            p = cls._from_fd(fd)
        except BaseException:
            fd.close()
            raise
        p.pinned = path
        return p

    @classmethod
    def from_id(cls, prog_id: int) -> "Program":
        """Open a loaded program by its kernel id."""
        fd = _sys.prog_get_fd_by_id(prog_id)
        try:
            return cls._from_fd(fd)
        except BaseException:
            fd.close()
            raise

    @classmethod
    def from_fd(cls, fd: int) -> "Program":
        """Wrap a program fd (a duplicate is taken: the caller keeps its own)."""
        import os
        dup = _sys.FD(os.dup(fd), "prog")
        try:
            return cls._from_fd(dup)
        except BaseException:
            dup.close()
            raise

    @classmethod
    def _from_fd(cls, fd: Any) -> "Program":
        raw, _ = _info_raw(fd)
        name = raw[64:80].split(b"\0", 1)[0].decode("utf-8", "replace")
        return cls(fd, name, _U32.unpack_from(raw, 0)[0])

    # -- fd -----------------------------------------------------------------------------
    @property
    def fd(self) -> int:
        """The program's fd number (ValueError once closed)."""
        return self._fd.fd

    def fileno(self) -> int:
        return self._fd.fd

    @property
    def closed(self) -> bool:
        return self._fd.closed

    def close(self) -> None:
        """Drop our fd. Links and pins keep the program alive on their own."""
        self._fd.close()

    def __enter__(self) -> "Program":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._fd.closed else f"fd {self._fd.fd}"
        return f"<Program {self.name!r} {prog_type_name(self.type)} {state}>"

    @property
    def type_name(self) -> str:
        return prog_type_name(self.type)

    # -- kernel views ---------------------------------------------------------------------
    def info(self) -> ProgramInfo:
        """Kernel info: id, tag, name, type, xlated/jited lengths, map ids, run stats."""
        raw, arrays = _info_raw(self._fd, map_ids=1)
        i = ProgramInfo()
        u32 = lambda off: _U32.unpack_from(raw, off)[0]  # noqa: E731
        u64 = lambda off: _U64.unpack_from(raw, off)[0]  # noqa: E731
        i.type, i.id, i.tag = u32(0), u32(4), raw[8:16].hex()
        i.jited_len, i.xlated_len = u32(16), u32(20)
        i.load_time, i.created_by_uid = u64(40), u32(48)
        ids = arrays.get("map_ids", b"")
        i.map_ids = list(struct.unpack(f"<{len(ids) // 4}I", ids))
        i.name = raw[64:80].split(b"\0", 1)[0].decode("utf-8", "replace")
        i.gpl_compatible = bool(u32(84) & 1)
        i.btf_id = u32(128)
        i.nr_func_info, i.nr_line_info = u32(144), u32(148)
        i.run_time_ns, i.run_cnt, i.recursion_misses = u64(192), u64(200), u64(208)
        i.verified_insns = u32(216)
        i.attach_btf_obj_id, i.attach_btf_id = u32(220), u32(224)
        return i

    @property
    def id(self) -> int:
        return _U32.unpack_from(_info_raw(self._fd)[0], 4)[0]

    def xlated(self, raw: bool = False) -> Any:
        """The kernel's translated instructions: decoded (``asm``) or ``raw`` bytes."""
        _, arrays = _info_raw(self._fd, xlated=True)
        data = arrays.get("xlated", b"")
        if raw:
            return data
        from .asm import decode
        return decode(data)

    def line_info(self) -> list[tuple[int, str, int, int, str]]:
        """The kernel's line info: [(xlated insn offset, file, line, column, source)]."""
        raw, arrays = _info_raw(self._fd, line_info=1)
        data = arrays.get("line_info", b"")
        rec = _U32.unpack_from(raw, 172)[0] or 16
        btf_id = _U32.unpack_from(raw, 128)[0]
        if not data or not btf_id:
            return []
        strings = _btf_strings(btf_id)
        out = []
        for pos in range(0, len(data) - rec + 1, rec):
            off, fno, lno, lc = struct.unpack_from("<IIII", data, pos)
            out.append((off, _str_at(strings, fno), lc >> 10, lc & 0x3FF, _str_at(strings, lno)))
        return out

    # -- running ------------------------------------------------------------------------
    def test_run(self, data: Any = None, *, ctx: Any = None, repeat: int = 0,
                 data_out: bool | int = True, ctx_out: bool | int = True, flags: int = 0,
                 cpu: int = 0) -> TestRunResult:
        """BPF_PROG_TEST_RUN: run the program on ``data`` (packet) and/or ``ctx``.

        ``data_out``/``ctx_out``: True for buffers sized from the input (+256 bytes head room
        for data), an int for an explicit size, False for none."""
        if data_out is True:
            dsize = (memoryview(data).nbytes + 256) if data is not None else 0
        else:
            dsize = int(data_out or 0)
        if ctx_out is True:
            csize = memoryview(ctx).nbytes if ctx is not None else 0
        else:
            csize = int(ctx_out or 0)
        r = _sys.prog_test_run(self._fd, data, data_out_size=dsize, ctx=ctx, ctx_out_size=csize,
                               repeat=repeat, flags=flags, cpu=cpu)
        return TestRunResult(r.retval, r.duration, r.data, r.ctx)

    # -- pins -----------------------------------------------------------------------------
    def pin(self, path: str) -> None:
        """Pin at ``path`` on a bpffs (keeps the program loaded after we exit)."""
        _sys.obj_pin(self._fd, path)
        self.pinned = path

    def unpin(self, path: str | None = None) -> None:
        """Remove the pin (``path`` or where we pinned it)."""
        p = path or self.pinned
        if not p:
            raise Error(f"program {self.name!r} is not pinned")
        _sys.unpin(p)  # nothing there is fine; other failures name the path
        if p == self.pinned:
            self.pinned = None

    # -- attaching --------------------------------------------------------------------------
    def attach(self, *args: Any, **kw: Any) -> Any:
        """Attach to the hook of this program's section (or as ``kw`` say); returns a Link.

        Delegates to ``corebpf.link.attach``; the caller closes the link."""
        from . import link
        return link.attach(self, *args, **kw)


# --- helpers ------------------------------------------------------------------------------

def _pack_records(records: Any, fmt: str) -> bytes | None:
    if records is None:
        return None
    if isinstance(records, (bytes, bytearray, memoryview)):
        return bytes(records) or None
    st = struct.Struct(fmt)
    out = bytearray(st.size * len(records))
    for i, r in enumerate(records):
        st.pack_into(out, i * st.size, *r)
    return bytes(out) or None


def _btf_strings(btf_id: int) -> bytes:
    fd = _sys.btf_get_fd_by_id(btf_id)
    try:
        blob = _sys.btf_info(fd, data=True)["btf"]
    finally:
        fd.close()
    hdr_len, _to, _tl, str_off, str_len = struct.unpack_from("<IIIII", blob, 4)
    return blob[hdr_len + str_off:hdr_len + str_off + str_len]


def _str_at(strings: bytes, off: int) -> str:
    end = strings.find(b"\0", off)
    return strings[off:end if end >= 0 else len(strings)].decode("utf-8", "replace")


_INSN_LINE: Any = None  # re.Pattern, compiled on first use: `re` costs ≈5 ms of import


def _insn_line() -> Any:
    global _INSN_LINE
    if _INSN_LINE is None:
        import re
        # matched at a line's start (pattern.match(log, pos, endpos)), so no `^`
        _INSN_LINE = re.compile(r"(\d+): \(([0-9a-f]{2})\)")
    return _INSN_LINE


def _last_insn_line(log: str) -> tuple[int, str] | None:
    """(index, text) of the last ``N: (op) ...`` line of a verifier log.

    Scans back from the end, one line at a time: the verdict is at the end, and the log of
    a program refused after the verifier's 1M-instruction budget holds 16 MiB."""
    pat = _insn_line()
    end = len(log)
    while end > 0:
        start = log.rfind("\n", 0, end) + 1
        m = pat.match(log, start, end)
        if m:
            return int(m.group(1)), log[start:end]
        end = start - 1
    return None


def failing_instruction(log: str) -> int | None:
    """The index of the last instruction the verifier looked at before refusing."""
    found = _last_insn_line(log)
    return found[0] if found is not None else None


def explain_verifier_error(e: VerifierError, name: str, source: Any) -> VerifierError:
    """A VerifierError naming the failing instruction and, through ``source``, its C line."""
    truncated = e.log_truncated
    # a log cut at its end (kernels before 6.4) lacks the instruction the verifier refused
    found = _last_insn_line(e.log) if truncated != "head" else None
    insn = found[0] if found is not None else None
    src = None
    summary = ""
    if source is not None and insn is not None:
        try:
            got = source(insn)
        except Exception:  # never let a lookup hide the verifier's message
            got = None
        if isinstance(got, tuple):
            src, summary = got
        else:
            src = got
    note = ""
    if summary.startswith("note: "):
        # a hint to add to the verifier's own words, not to replace them
        note, summary = summary[len("note"):], ""
    if not summary:
        from .errors import _last_log_line
        summary = _last_log_line(_sys._log_end(e.log))
        if found is not None:
            summary = f"{summary}; at {found[1].strip()}"
        elif truncated == "head":
            summary += (f" (the verifier log was cut at {len(e.log)} bytes: this kernel keeps "
                        "its start, not the refusal)")
    summary += note
    return VerifierError(name, e.errno, e.log, summary=summary, instruction=insn, source=src,
                         log_truncated=truncated)
