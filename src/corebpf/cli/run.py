"""``corebpf run OBJECT [--duration S] [--iface IF] [--cgroup PATH] [--set VAR=VALUE]...
[--event-type [BUFFER=]STRUCT] [--json]``

Loads the object (global variables set first with --set), attaches every program it can
(XDP/TC on --iface, cgroup programs on --cgroup, perf_event programs sampling at 49 Hz),
streams the events of every ring/perf buffer decoded through BTF, and when the run ends
(--duration, Ctrl-C, SIGTERM) prints what iterator programs produce, detaches everything
and prints the final contents of the other maps. ``--duration 0`` loads, attaches, detaches and exits.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
TYPE_CHECKING = False  # typing costs ≈3 ms of start-up; type checkers take this as True
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any

_MAP_RINGBUF = 27
_MAP_PERF_EVENT_ARRAY = 4
# maps whose contents are not data worth printing at the end
_SKIP_MAP_TYPES = {3, 4, 7, 12, 13, 15, 16, 17, 18, 27, 31}  # prog/perf arrays, map-in-map,
#                   devmap, sockmap, cpumap, xskmap, sockhash, ringbufs, ...
_PERF_FREQ = 49


def register(sub: argparse._SubParsersAction) -> None:
    doc = __doc__ or ""
    p = sub.add_parser("run", help="load, attach, stream events, print maps at the end",
                       description=doc.split("\n\n", 1)[1] if "\n\n" in doc else None)
    p.add_argument("object", help="compiled BPF object (.bpf.o)")
    p.add_argument("--duration", "-d", type=float, default=None, metavar="S",
                   help="stop after S seconds (default: until Ctrl-C or SIGTERM)")
    p.add_argument("--iface", "-i", metavar="IF", help="interface for XDP and TC programs")
    p.add_argument("--cgroup", "-c", metavar="PATH", help="cgroup v2 directory for cgroup "
                   "programs")
    p.add_argument("--set", "-s", action="append", default=[], metavar="VAR=VALUE",
                   dest="set_vars", help="set a global variable before load (repeatable)")
    p.add_argument("--event-type", "-e", action="append", default=[],
                   metavar="[BUFFER=]STRUCT", help="record type of a buffer (all buffers "
                   "without BUFFER=)")
    p.add_argument("--json", "-j", action="store_true", help="one JSON object per line")
    # the collector stays off while we load and attach (cli.main.startup_done)
    p.set_defaults(func=run, gc_startup=True)


# --------------------------------------------------------------------------- parsing

def _parse_value(text: str) -> Any:
    t = text.strip()
    low = t.lower()
    if low in ("true", "false"):
        return low == "true"
    try:
        return int(t, 0)
    except ValueError:
        pass
    try:
        return float(t)
    except ValueError:
        pass
    if len(t) >= 2 and t[0] == t[-1] and t[0] in "'\"":
        return t[1:-1]
    return t


def parse_sets(items: list[str]) -> dict[str, Any]:
    from ..errors import Error
    out: dict[str, Any] = {}
    for it in items:
        name, sep, value = it.partition("=")
        if not sep or not name.strip():
            raise Error(f"--set {it!r}: expected VAR=VALUE")
        out[name.strip()] = _parse_value(value)
    return out


def parse_event_types(items: list[str]) -> tuple[dict[str, str], str | None]:
    per: dict[str, str] = {}
    default = None
    for it in items:
        buf, sep, st = it.partition("=")
        if sep:
            per[buf.strip()] = st.strip()
        else:
            default = it.strip()
    return per, default


# --------------------------------------------------------------------------- attach

def _attach_opts(prog: Any, args: argparse.Namespace) -> dict[str, Any] | None:
    """Options for attaching ``prog`` in a run; None when it cannot be attached here
    (the reason printed once on stderr)."""
    from ..link import auto_attachable
    sec = str(getattr(prog, "section", "") or "")
    head = sec.partition("/")[0].removesuffix(".s").removesuffix(".w")
    opts: dict[str, Any] = {}
    if head in ("xdp", "xdp.frags", "tc", "tcx", "classifier"):
        if not args.iface:
            _note(f"{prog.name}: not attached ({sec} needs --iface)")
            return None
        opts["iface"] = args.iface
    elif head in ("cgroup_skb", "cgroup", "sockops", "lsm_cgroup"):
        if not args.cgroup:
            _note(f"{prog.name}: not attached ({sec} needs --cgroup)")
            return None
        opts["cgroup"] = args.cgroup
    elif head == "perf_event":
        opts["sample_freq"] = _PERF_FREQ
    if not auto_attachable(prog, **opts):
        if head in ("kprobe", "kretprobe", "ksyscall", "kretsyscall", "kprobe.multi",
                    "kretprobe.multi") and "/" in sec:
            return opts  # attach anyway: the error says kprobes are missing
        _note(f"{prog.name}: not attached (section {sec!r} does not name a hook)")
        return None
    return opts


def _note(msg: str) -> None:
    print(f"corebpf run: {msg}", file=sys.stderr)


# --------------------------------------------------------------------------- event types

def _struct_ids(btf: Any) -> dict[str, int]:
    """name -> id of every named struct in the object's BTF."""
    from ..btf import types as T
    out: dict[str, int] = {}
    for tid in range(1, len(btf)):
        try:
            t = btf[tid]
        except Exception:  # noqa: BLE001 - skip what cannot be decoded
            continue
        if getattr(t, "kind", None) == T.STRUCT and getattr(t, "name", ""):
            out.setdefault(t.name, tid)
    return out


def _record_sizes(obj: Any, map_name: str) -> set[int]:
    """Constant record sizes the object's programs pass to bpf_ringbuf_reserve,
    bpf_ringbuf_output or bpf_perf_event_output with ``map_name`` as their map."""
    sizes: set[int] = set()
    spec = getattr(obj, "spec", None)
    funcs: list[Any] = list((getattr(spec, "programs", None) or {}).values())
    more = getattr(spec, "functions", None)
    if isinstance(more, dict):
        funcs += list(more.values())
    seen: set[int] = set()
    for p in funcs:
        if id(p) in seen or not getattr(p, "insns", None):
            continue
        seen.add(id(p))
        maps = {r.insn: r.target for r in (getattr(p, "relocations", None) or [])
                if getattr(r, "target", None) is not None}
        if map_name in maps.values():
            sizes |= _sizes_in(bytes(p.insns), maps, map_name)
    return sizes


def _sizes_in(buf: bytes, maps: dict[int, str], map_name: str) -> set[int]:
    """Walk straight-line code tracking constants and map pointers in r1-r5: at each
    helper call 131 (ringbuf_reserve: size in r2), 130 (ringbuf_output: r3) or 25
    (perf_event_output: r5) whose map argument is ``map_name``, record the size."""
    import struct
    out: set[int] = set()
    consts: dict[int, int] = {}
    mptr: dict[int, str] = {}
    i, n = 0, len(buf) // 8
    while i < n:
        code, regs_b, _off, imm = struct.unpack_from("<BBhi", buf, i * 8)
        dst, src = regs_b & 0xF, regs_b >> 4
        if code == 0x18:                        # ld_imm64: maybe a map reference
            consts.pop(dst, None)
            mptr.pop(dst, None)
            if i in maps:
                mptr[dst] = maps[i]
            i += 2
            continue
        if code in (0xB7, 0xB4):                # mov dst, imm
            consts[dst] = imm
            mptr.pop(dst, None)
        elif code == 0xBF:                      # mov dst, src
            consts.pop(dst, None)
            mptr.pop(dst, None)
            if src in consts:
                consts[dst] = consts[src]
            if src in mptr:
                mptr[dst] = mptr[src]
        elif code == 0x85 and src == 0:         # helper call
            arg = {131: (1, 2), 130: (1, 3), 25: (2, 5)}.get(imm)
            if arg is not None and mptr.get(arg[0]) == map_name and arg[1] in consts:
                out.add(consts[arg[1]])
            for r in range(6):
                consts.pop(r, None)
                mptr.pop(r, None)
        elif code & 0x07 in (0x04, 0x07, 0x01, 0x00, 0x02, 0x03, 0x05, 0x06):
            if code & 0x07 not in (0x05, 0x06, 0x02, 0x03):  # alu/ldx change dst
                consts.pop(dst, None)
                mptr.pop(dst, None)
        i += 1
    return {s for s in out if 0 < s < 1 << 20}


def infer_event_type(obj: Any, btf: Any, buf_name: str, structs: dict[str, int]) -> int | None:
    """A BTF struct id for the records of buffer ``buf_name``, where that is safe:
    a struct named like the buffer (``events`` → ``event``/``events``/``<buf>_event``) or
    ``event``, else the single named struct whose size matches every size the programs
    reserve/output on that buffer."""
    singular = buf_name[:-1] if buf_name.endswith("s") else buf_name
    for cand in (buf_name, singular, f"{buf_name}_event", f"{singular}_event",
                 f"{singular}_t", "event", "event_t", "data_t"):
        if cand in structs:
            return structs[cand]
    sizes = _record_sizes(obj, buf_name)
    if len(sizes) != 1:
        return None
    (size,) = sizes
    own = _own_structs(btf, structs)
    hits = [tid for tid in own if _size(btf, tid) == size]
    return hits[0] if len(hits) == 1 else None


def _own_structs(btf: Any, structs: dict[str, int]) -> list[int]:
    """Struct ids that the object defines itself (not pulled in from vmlinux.h): a
    heuristic keeping those whose name is not in the kernel's BTF."""
    try:
        from ..btf import BTF
        kb = BTF.kernel()
        out = []
        for name, tid in structs.items():
            try:
                if not kb.find(name):
                    out.append(tid)
            except Exception:  # noqa: BLE001
                out.append(tid)
        return out
    except Exception:  # noqa: BLE001
        return list(structs.values())


def _size(btf: Any, tid: int) -> int:
    try:
        return btf.size_of(tid)
    except Exception:  # noqa: BLE001
        return -1


# --------------------------------------------------------------------------- output

class _Printer:
    """Prints records as JSON lines or as an aligned table per buffer."""

    def __init__(self, as_json: bool) -> None:
        self.as_json = as_json
        self.headers: dict[str, list[int]] = {}
        if as_json:
            import json
            self._dumps = json.dumps
        from ..btf.codec import to_jsonable
        self._jsonable = to_jsonable
        self.out = sys.stdout

    def event(self, buf: str, value: Any) -> None:
        if isinstance(value, (bytes, bytearray, memoryview)):
            fields: dict[str, Any] = {"data": bytes(value).hex()}
        else:
            v = self._jsonable(value)
            fields = v if isinstance(v, dict) else {"value": v}
        if self.as_json:
            rec = {"event": buf}
            for k, v in fields.items():
                rec[k if k != "event" else "event_field"] = v
            self.out.write(self._dumps(rec) + "\n")
        else:
            cols = [buf] + [_cell(v) for v in fields.values()]
            widths = self.headers.get(buf)
            if widths is None:
                names = ["BUFFER"] + [k.upper() for k in fields]
                widths = [max(len(n), len(c), 6) for n, c in zip(names, cols)]
                self.headers[buf] = widths
                self.out.write("  ".join(n.ljust(w) for n, w in zip(names, widths)).rstrip()
                               + "\n")
            self.out.write("  ".join(c.ljust(w) for c, w in zip(cols, widths)).rstrip() + "\n")

    def iter(self, name: str, text: str) -> None:
        if self.as_json:
            self.out.write(self._dumps({"iter": name, "output": text}) + "\n")
        else:
            self.out.write(f"\niter {name}:\n{text}")
            if text and not text.endswith("\n"):
                self.out.write("\n")

    def map(self, name: str, entries: list[tuple[Any, Any]], hist: list[int] | None) -> None:
        if self.as_json:
            rec: dict[str, Any] = {"map": name, "entries": [
                {"key": self._jsonable(k), "value": self._jsonable(v)} for k, v in entries]}
            if hist is not None:
                rec["histogram"] = hist
            self.out.write(self._dumps(rec) + "\n")
            return
        self.out.write(f"\nmap {name}:\n")
        if hist is not None:
            from ..viz import log2_histogram_lines
            for ln in log2_histogram_lines(hist):
                self.out.write(ln + "\n")
            return
        if not entries:
            self.out.write("  (empty)\n")
        for k, v in entries:
            self.out.write(f"  {_cell(self._jsonable(k))}: {_cell(self._jsonable(v))}\n")


def _cell(v: Any) -> str:
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k}={_cell(x)}" for k, x in v.items()) + "}"
    if isinstance(v, list):
        return "[" + ", ".join(_cell(x) for x in v) + "]"
    return str(v)


def _is_zero(v: Any) -> bool:
    if isinstance(v, (int, float)):
        return v == 0
    if isinstance(v, (bytes, bytearray)):
        return not any(v)
    if isinstance(v, (list, tuple)):
        return all(_is_zero(x) for x in v)
    if hasattr(v, "_fields"):
        return all(_is_zero(getattr(v, f)) for f in v._fields)
    return False


def _histogram(name: str, m: Any, entries: list[tuple[Any, Any]]) -> list[int] | None:
    """log2 buckets if this map looks like a log2 histogram: a value holding one array of
    counters (``slots``/``buckets``), or an array map named ``*hist*`` of counters."""
    def ints(x: Any) -> bool:
        return isinstance(x, list) and len(x) > 1 and all(isinstance(i, int) for i in x)
    if len(entries) == 1:
        v = entries[0][1]
        if hasattr(v, "_fields") and len(v._fields) >= 1:
            for f in v._fields:
                if f in ("slots", "buckets", "hist", "counts") and ints(getattr(v, f)):
                    return list(getattr(v, f))
        if ints(v) and "hist" in name:
            return list(v)
    if "hist" in name and getattr(m, "type", None) in (2, 6) and entries and \
            all(isinstance(k, int) for k, _ in entries):
        vals = [sum(v) if isinstance(v, list) else v for _, v in entries]
        if all(isinstance(v, int) for v in vals):
            out = [0] * (max(k for k, _ in entries) + 1)
            for (k, _), v in zip(entries, vals):
                out[k] = v
            return out
    return None


def dump_maps(obj: Any, printer: _Printer, skip: set[str]) -> None:
    for name, m in obj.maps.items():
        if name in skip or name.startswith(".") or name.startswith("__bpf_usdt") or \
                "." in name:
            continue
        if getattr(m, "type", None) in _SKIP_MAP_TYPES:
            continue
        try:
            entries = list(m.items())
        except Exception as e:  # noqa: BLE001 - one unreadable map must not stop the dump
            _note(f"map {name}: cannot read: {e}")
            continue
        if getattr(m, "type", None) in (2, 6):  # arrays: drop zero slots of big arrays
            if (getattr(m, "max_entries", 0) or 0) > 64:
                entries = [(k, v) for k, v in entries if not _is_zero(v)]
        printer.map(name, entries, _histogram(name, m, entries))


# --------------------------------------------------------------------------- run

class _Stop(BaseException):
    """Raised by the SIGTERM handler (a BaseException so no ``except Exception`` eats it)."""


def run(args: argparse.Namespace) -> int:
    from ..errors import Error
    from ..object import load

    variables = parse_sets(args.set_vars)
    per_type, default_type = parse_event_types(args.event_type)
    if args.duration is not None and args.duration < 0:
        raise Error("--duration must be >= 0")
    if args.cgroup and not os.path.isdir(args.cgroup):
        raise Error(f"--cgroup {args.cgroup}: no such directory")
    obj = load(args.object, variables=variables or None)
    buffers: list[Any] = []
    poller = None
    old_term = None
    try:
        from ..link import attach
        for prog in obj.programs.values():
            opts = _attach_opts(prog, args)
            if opts is None:
                continue
            obj.links.append(attach(prog, **opts))
        if args.duration == 0:
            return 0
        import signal  # here: --duration 0 never needs it
        from .main import startup_done
        startup_done()  # events may stream for hours: automatic collection resumes
        printer = _Printer(args.json)
        buffers = _open_buffers(obj, per_type, default_type, printer)
        if buffers:
            from ..ringbuf import Poller
            poller = Poller(*buffers)

        def on_term(signum: int, frame: Any) -> None:
            raise _Stop()
        old_term = signal.signal(signal.SIGTERM, on_term)
        # scripts and tests start their workload once this is printed (bpftrace does alike)
        print(f"corebpf run: attached {len(obj.links)} link(s); Ctrl-C or SIGTERM to stop",
              file=sys.stderr, flush=True)
        deadline = None if args.duration is None else time.monotonic() + args.duration
        try:
            while True:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    break
                step = 0.5 if left is None else min(left, 0.5)
                if poller is not None:
                    if poller.poll(step):
                        sys.stdout.flush()   # once per batch, not per record
                else:
                    time.sleep(step)
        except (KeyboardInterrupt, _Stop):
            pass
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second SIGTERM must not cut cleanup
        # iterators run now, once, their output printed before the maps
        for ln in obj.links:
            if hasattr(ln, "read_text"):
                try:
                    printer.iter(getattr(ln.program, "name", "iter"), ln.read_text())
                except Error as e:
                    _note(f"iterator {ln!r}: {e}")
        # detach first so that the maps hold their final values, then drain what is left
        for ln in obj.links:
            try:
                ln.close()
            except Exception as e:  # noqa: BLE001
                _note(f"detach {ln!r}: {e}")
        if poller is not None:
            try:
                poller.consume()
            except Exception:  # noqa: BLE001
                pass
        dump_maps(obj, printer, {getattr(b, "_run_name", "") for b in buffers})
        sys.stdout.flush()
        return 0
    finally:
        if old_term is not None:
            import signal
            signal.signal(signal.SIGTERM, old_term)
        if poller is not None:
            poller.close()
        for b in buffers:
            try:
                b.close()
            except Exception:  # noqa: BLE001
                pass
        obj.close()


def _open_buffers(obj: Any, per_type: dict[str, str], default_type: str | None,
                  printer: _Printer) -> list[Any]:
    from ..errors import Error
    unknown = set(per_type) - set(obj.maps)
    if unknown:
        raise Error(f"--event-type: no buffer named {', '.join(sorted(unknown))} "
                    f"(maps: {', '.join(obj.maps)})")
    btf = getattr(getattr(obj, "spec", None), "btf", None)
    structs: dict[str, int] | None = None
    out = []
    for name, m in obj.maps.items():
        mtype = getattr(m, "type", None)
        if mtype not in (_MAP_RINGBUF, _MAP_PERF_EVENT_ARRAY):
            continue
        codec = None
        want = per_type.get(name, default_type)
        if btf is not None:
            if structs is None:
                structs = _struct_ids(btf)
            tid = None
            if want:
                tid = structs.get(want.removeprefix("struct ").strip())
                if tid is None:
                    raise Error(f"--event-type {want}: no struct {want!r} in the object's BTF"
                                f" (structs: {', '.join(sorted(structs)[:20])})")
            else:
                tid = infer_event_type(obj, btf, name, structs)
            if tid is not None:
                from ..btf.codec import Codec
                codec = Codec(btf, tid)
        elif want:
            raise Error("--event-type needs BTF in the object (compile with -g)")
        out.append(_make_reader(obj, name, m, mtype, codec, printer))
    return [b for b in out if b is not None]


def _make_reader(obj: Any, name: str, m: Any, mtype: int, codec: Any,
                 printer: _Printer) -> Any:
    size = codec.size if codec is not None else 0

    def on_record(rec: Any) -> None:
        data = bytes(rec)
        if codec is not None and len(data) >= size:
            try:
                printer.event(name, codec.decode(data))
                return
            except Exception:  # noqa: BLE001 - fall back to hex for odd records
                pass
        printer.event(name, data)

    if mtype == _MAP_RINGBUF:
        from ..ringbuf import RingBuffer
        rb = RingBuffer(m, on_record)
    else:
        try:
            from ..perfbuf import PerfBuffer
        except ImportError:
            _note(f"{name}: perf buffers are not supported yet; not read")
            return None
        def on_lost(cpu: int, n: int) -> None:
            _note(f"{name}: {n} samples lost on CPU {cpu} (reader too slow)")
        try:
            rb = PerfBuffer(m, on_record, lost_callback=on_lost)
        except TypeError:
            rb = PerfBuffer(m, on_record)
    try:
        rb._run_name = name
    except AttributeError:
        pass
    return rb
