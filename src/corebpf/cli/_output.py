"""Helpers shared by the ``corebpf`` subcommands: JSON/table output, object lookup by id,
pin or name, kernel-object facts bpftool also shows (load time, memlock, owning pids).

Any command module may import this one.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
TYPE_CHECKING = False  # typing costs ≈3 ms of start-up; checkers take this as True
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, Callable, Iterable, Iterator, Sequence

from ..errors import Error


def add_json_flags(p: argparse.ArgumentParser) -> None:
    """``-j/--json`` and ``-p/--pretty`` (pretty implies JSON), as bpftool has them."""
    p.add_argument("-j", "--json", action="store_true", help="JSON output")
    p.add_argument("-p", "--pretty", action="store_true", help="pretty-printed JSON output")


def add_bpffs_flag(p: argparse.ArgumentParser) -> None:
    """``-f/--bpffs``: show where objects are pinned under /sys/fs/bpf (bpftool's -f)."""
    p.add_argument("-f", "--bpffs", action="store_true",
                   help="show the paths objects are pinned at under /sys/fs/bpf")


def add_pins(kind: str, recs: list[dict[str, Any]], args: argparse.Namespace) -> None:
    """Add ``pinned: [paths]`` to each record when ``--bpffs`` was given."""
    if not getattr(args, "bpffs", False):
        return
    pins = pinned_paths(kind)
    for r in recs:
        if r["id"] in pins:
            r["pinned"] = sorted(pins[r["id"]])


def wants_json(args: argparse.Namespace) -> bool:
    return bool(getattr(args, "json", False) or getattr(args, "pretty", False))


def print_json(value: Any, args: argparse.Namespace | None = None,
               pretty: bool | None = None) -> None:
    """Print ``value`` as JSON (indented with ``--pretty``)."""
    if pretty is None:
        pretty = bool(args is not None and getattr(args, "pretty", False))
    text = json.dumps(value, indent=2 if pretty else None, default=_json_default)
    sys.stdout.write(text + "\n")


def _json_default(v: Any) -> Any:
    if isinstance(v, (bytes, bytearray, memoryview)):
        return hex_list(bytes(v))
    if hasattr(v, "as_dict"):
        return v.as_dict()
    if hasattr(v, "_asdict"):
        return v._asdict()
    if isinstance(v, (set, frozenset, tuple)):
        return list(v)
    if hasattr(v, "__dict__"):
        return {k: x for k, x in vars(v).items() if not k.startswith("_")}
    return str(v)


def table(rows: Sequence[Sequence[Any]], headers: Sequence[str] | None = None,
          right: Iterable[int] = ()) -> list[str]:
    """Align ``rows`` in columns (columns in ``right`` right-aligned)."""
    cells = [[str(c) for c in r] for r in rows]
    if headers:
        cells.insert(0, [str(h) for h in headers])
    if not cells:
        return []
    n = max(len(r) for r in cells)
    widths = [max((len(r[i]) for r in cells if i < len(r)), default=0) for i in range(n)]
    rset = set(right)
    out = []
    for r in cells:
        parts = [(c.rjust(widths[i]) if i in rset else c.ljust(widths[i]))
                 for i, c in enumerate(r)]
        out.append("  ".join(parts).rstrip())
    return out


def hex_bytes(b: bytes) -> str:
    """``0a 00 00 00`` (bpftool's spelling of raw keys and values)."""
    return " ".join(f"{x:02x}" for x in b)


def hex_list(b: bytes) -> list[str]:
    """``["0x0a", "0x00", ...]`` (bpftool's JSON spelling of raw bytes)."""
    return [f"0x{x:02x}" for x in b]


def parse_bytes(tokens: Sequence[str], size: int, what: str = "key") -> bytes:
    """Bytes from command-line tokens, for a key or value of ``size`` bytes.

    Accepted: ``hex 0a 00 00 00`` / ``hex 0a000000``; byte tokens ``10 0 0 0`` or
    ``0x0a 0 0 0``; or one integer (``10``, ``0x0a``, ``-1``) packed little-endian into
    ``size`` bytes.
    """
    toks = list(tokens)
    if not toks:
        raise Error(f"missing {what} ({size} bytes)")
    if toks[0] == "hex":
        text = "".join(toks[1:]).replace("0x", "")
        try:
            data = bytes.fromhex(text)
        except ValueError:
            raise Error(f"{what}: {' '.join(toks[1:])!r} is not hex bytes") from None
    elif len(toks) == 1:
        try:
            n = int(toks[0], 0)
        except ValueError:
            raise Error(f"{what}: {toks[0]!r} is not a number; give an integer, bytes "
                        "(`0x01 0x02 ...`) or `hex 0102...`") from None
        if size not in (1, 2, 4, 8, 16) and n > 0xFF:
            raise Error(f"{what}: a single integer fits only 1/2/4/8/16-byte {what}s; "
                        f"this one is {size} bytes: give the bytes")
        lo = -(1 << (8 * size - 1))
        if not lo <= n < (1 << (8 * size)):
            raise Error(f"{what}: {n} does not fit in {size} bytes")
        data = (n & ((1 << (8 * size)) - 1)).to_bytes(size, "little") if size else b""
    else:
        try:
            data = bytes(int(t, 0) if not t.startswith("0x") else int(t, 16) for t in toks)
        except ValueError:
            raise Error(f"{what}: {' '.join(toks)!r}: each byte must be 0..255") from None
    if len(data) != size:
        raise Error(f"{what}: got {len(data)} bytes, the map wants {size}")
    return data


def boot_to_wall(ns_since_boot: int) -> float:
    """A CLOCK_BOOTTIME timestamp (as in ``load_time``) as Unix time."""
    return time.time() - (time.clock_gettime(time.CLOCK_BOOTTIME) - ns_since_boot / 1e9)


def iso_time(unix: float) -> str:
    """``2026-11-25T16:57:47+0000`` in local time, like bpftool's ``loaded_at``."""
    return time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(unix))


def fdinfo(fd: int) -> dict[str, str]:
    """``/proc/self/fdinfo/FD`` as a dict (memlock, map_type, prog_tag, frozen, ...)."""
    out: dict[str, str] = {}
    try:
        with open(f"/proc/self/fdinfo/{fd}") as f:
            for line in f:
                k, _, v = line.partition(":")
                out[k.strip()] = v.strip()
    except OSError:
        pass
    return out


_OWNERS: dict[str, dict[int, list[dict[str, Any]]]] | None = None


def owners(kind: str) -> dict[int, list[dict[str, Any]]]:
    """``{object id: [{"pid": .., "comm": ..}, ...]}`` of processes holding an fd to a BPF
    object of ``kind`` (``prog``, ``map``, ``link``), found through /proc/*/fdinfo."""
    global _OWNERS
    if _OWNERS is None:
        _OWNERS = {"prog": {}, "map": {}, "link": {}}
        me = os.getpid()
        for pid_s in os.listdir("/proc"):
            if not pid_s.isdigit() or int(pid_s) == me:
                continue
            pid = int(pid_s)
            try:
                fds = os.listdir(f"/proc/{pid}/fd")
            except OSError:
                continue
            comm = None
            seen: set[tuple[str, int]] = set()
            for fd in fds:
                try:
                    target = os.readlink(f"/proc/{pid}/fd/{fd}")
                except OSError:
                    continue
                if not target.startswith("anon_inode:bpf-"):
                    continue
                k = {"anon_inode:bpf-prog": "prog", "anon_inode:bpf-map": "map",
                     "anon_inode:bpf_link": "link",
                     "anon_inode:bpf-link": "link"}.get(target)
                if k is None:
                    continue
                try:
                    with open(f"/proc/{pid}/fdinfo/{fd}") as f:
                        info = f.read()
                except OSError:
                    continue
                key = {"prog": "prog_id:", "map": "map_id:", "link": "link_id:"}[k]
                for line in info.splitlines():
                    if line.startswith(key):
                        oid = int(line.split()[1])
                        if (k, oid) in seen:
                            break
                        seen.add((k, oid))
                        if comm is None:
                            try:
                                with open(f"/proc/{pid}/comm") as f:
                                    comm = f.read().strip()
                            except OSError:
                                comm = "?"
                        _OWNERS[k].setdefault(oid, []).append({"pid": pid, "comm": comm})
                        break
    return _OWNERS.get(kind, {})


def pinned_paths(kind: str, root: str = "/sys/fs/bpf") -> dict[int, list[str]]:
    """``{object id: [pin paths]}`` for objects of ``kind`` pinned under ``root``."""
    from .. import _sys
    out: dict[int, list[str]] = {}
    getinfo: Callable[[Any], Any] = {"prog": _sys.prog_info, "map": _sys.map_info,
                                     "link": _sys.link_info}[kind]
    if not os.path.isdir(root):
        return out
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            path = os.path.join(dirpath, name)
            try:
                fd = _sys.obj_get(path)
            except Error:
                continue
            with fd:
                link = os.readlink(f"/proc/self/fd/{fd.fd}") if os.path.exists(
                    f"/proc/self/fd/{fd.fd}") else ""
                want = {"prog": "bpf-prog", "map": "bpf-map", "link": "bpf_link"}[kind]
                if want not in link and not (kind == "link" and "bpf-link" in link):
                    continue
                try:
                    oid = getinfo(fd)["id"]
                except Error:
                    continue
            out.setdefault(oid, []).append(path)
    return out


def ids(next_id: Callable[[int], int | None]) -> Iterator[int]:
    """All ids the kernel has for one object kind, in order."""
    cur = 0
    while True:
        nid = next_id(cur)
        if nid is None:
            return
        yield nid
        cur = nid


def open_object(kind: str, ref: str) -> Any:
    """An owned fd (``_sys.FD``) for a prog/map/link given as an id, ``id N``, a pinned path
    or (prog/map) a unique name."""
    from .. import _sys
    ref = ref.strip()
    if ref.startswith("id "):
        ref = ref[3:].strip()
    if ref.isdigit():
        by_id = {"prog": _sys.prog_get_fd_by_id, "map": _sys.map_get_fd_by_id,
                 "link": _sys.link_get_fd_by_id}[kind]
        try:
            return by_id(int(ref))
        except Error as e:
            raise Error(f"{kind} {ref}: no such {kind} id ({e})") from None
    if ref.startswith("pinned "):
        ref = ref[7:].strip()
    if ref.startswith("/"):
        try:
            return _sys.obj_get(ref)
        except Error as e:
            raise Error(f"{kind} {ref}: cannot open the pin ({e})") from None
    if ref.startswith("name "):
        ref = ref[5:].strip()
    if kind == "link":
        raise Error(f"link {ref!r}: give a link id or a pinned path")
    next_id = {"prog": _sys.prog_get_next_id, "map": _sys.map_get_next_id}[kind]
    by_id = {"prog": _sys.prog_get_fd_by_id, "map": _sys.map_get_fd_by_id}[kind]
    info = {"prog": _sys.prog_info, "map": _sys.map_info}[kind]
    found = []
    for oid in ids(next_id):
        try:
            fd = by_id(oid)
        except Error:
            continue
        if info(fd)["name"] == ref:
            found.append(fd)
        else:
            fd.close()
    if not found:
        raise Error(f"{kind} {ref!r}: no {kind} with that name (or id, or pinned path)")
    if len(found) > 1:
        for fd in found:
            fd.close()
        raise Error(f"{kind} {ref!r}: {len(found)} {kind}s have that name; use an id")
    return found[0]


def all_records(kind: str, record: Callable[[Any], dict[str, Any]]) -> list[dict[str, Any]]:
    """``record(fd)`` for every prog/map/link the kernel has (skipping ones that went away
    between listing and opening)."""
    from .. import _sys
    next_id = {"prog": _sys.prog_get_next_id, "map": _sys.map_get_next_id,
               "link": _sys.link_get_next_id}[kind]
    by_id = {"prog": _sys.prog_get_fd_by_id, "map": _sys.map_get_fd_by_id,
             "link": _sys.link_get_fd_by_id}[kind]
    recs = []
    for oid in ids(next_id):
        try:
            fd = by_id(oid)
        except Error:
            continue
        with fd:
            recs.append(record(fd))
    return recs


def owner_lines(r: dict[str, Any]) -> list[str]:
    """The ``pids`` and ``pinned`` lines of a human listing."""
    lines = []
    if r.get("pids"):
        lines.append("\tpids " + ", ".join(f"{p['comm']}({p['pid']})" for p in r["pids"]))
    if r.get("pinned"):
        lines.append("\tpinned " + ", ".join(r["pinned"]))
    return lines


def show(kind: str, args: argparse.Namespace, record: Callable[[Any], dict[str, Any]],
         fmt: Callable[[dict[str, Any]], list[str]]) -> int:
    """``corebpf KIND show [REF]`` / ``list``: one object or all, as text or JSON."""
    if args.ref is None:
        recs = all_records(kind, record)
    else:
        with open_object(kind, args.ref) as fd:
            recs = [record(fd)]
    add_pins(kind, recs, args)
    if wants_json(args):
        print_json(recs if args.ref is None else recs[0], args)
    else:
        for r in recs:
            print("\n".join(fmt(r)))
    return 0
