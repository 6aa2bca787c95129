"""``corebpf map``: list, show, dump, look up, update, delete and pin kernel maps.

    corebpf map list [--json]
    corebpf map show ID|PIN|NAME
    corebpf map dump ID
    corebpf map lookup ID KEY...
    corebpf map update ID KEY VALUE | ID KEY... value VALUE... [--flags any|noexist|exist]
    corebpf map delete ID KEY...
    corebpf map pin ID PATH

KEY/VALUE: one integer (packed little-endian to the key/value size), bytes
(``1 0 0 0`` or ``0x01 0x00 ...``), ``hex 01000000``, or JSON decoded through the map's BTF
(``'{"pid": 1}'``). Values are shown through BTF when the map has it.
"""
from __future__ import annotations

import argparse
import ctypes
import json
TYPE_CHECKING = False  # typing costs ≈3 ms of start-up; checkers take this as True
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, Iterator

from ..errors import Error, NotFound
from . import _output as out

PERCPU_TYPES = {5, 6, 10, 21}  # percpu_hash, percpu_array, lru_percpu_hash, percpu_cgroup_storage
NO_KEY_TYPES = {22, 23, 27, 31, 36}  # queue, stack, ringbuf, user_ringbuf, arena



def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("map", help="inspect and edit maps in the kernel",
                       description=__doc__.split("\n\n")[0].replace("``", ""))
    ps = p.add_subparsers(dest="map_cmd", metavar="SUBCOMMAND")
    for name in ("list", "show"):
        q = ps.add_parser(name, help="list maps, or show one")
        q.add_argument("ref", nargs="?", metavar="ID", help="id, pinned path or name")
        out.add_json_flags(q)
        out.add_bpffs_flag(q)
        q.set_defaults(func=cmd_show)
    q = ps.add_parser("dump", help="print every element")
    q.add_argument("ref", metavar="ID")
    out.add_json_flags(q)
    q.set_defaults(func=cmd_dump)
    q = ps.add_parser("lookup", help="print one element")
    q.add_argument("ref", metavar="ID")
    q.add_argument("key", nargs="+", metavar="KEY")
    out.add_json_flags(q)
    q.set_defaults(func=cmd_lookup)
    q = ps.add_parser("update", help="create or change one element")
    q.add_argument("ref", metavar="ID")
    q.add_argument("kv", nargs="+", metavar="KEY... value VALUE...")
    q.add_argument("--flags", choices=("any", "noexist", "exist"), default="any")
    q.set_defaults(func=cmd_update)
    q = ps.add_parser("delete", help="delete one element")
    q.add_argument("ref", metavar="ID")
    q.add_argument("key", nargs="+", metavar="KEY")
    q.set_defaults(func=cmd_delete)
    q = ps.add_parser("pin", help="pin a map to a path in bpffs")
    q.add_argument("ref", metavar="ID")
    q.add_argument("path", metavar="PATH")
    q.set_defaults(func=cmd_pin)
    p.set_defaults(func=lambda a: cmd_show(argparse.Namespace(
        ref=None, json=False, pretty=False, bpffs=False)))


def map_record(fd: Any, with_owners: bool = True) -> dict[str, Any]:
    """What we know about one map, in bpftool's JSON field names."""
    from .. import _sys
    from ..uapi import map_type_name
    i = _sys.map_info(fd)
    info = out.fdinfo(_sys._fdnum(fd))
    rec: dict[str, Any] = {
        "id": i["id"], "type": map_type_name(i["type"]), "name": i["name"],
        "flags": i["map_flags"], "bytes_key": i["key_size"], "bytes_value": i["value_size"],
        "max_entries": i["max_entries"],
    }
    if info.get("memlock", "").isdigit():
        rec["bytes_memlock"] = int(info["memlock"])
    rec["frozen"] = 1 if info.get("frozen") == "1" else 0
    if i["btf_id"]:
        rec["btf_id"] = i["btf_id"]
    if i.get("map_extra"):
        rec["map_extra"] = i["map_extra"]
    if with_owners:
        pids = out.owners("map").get(i["id"])
        if pids:
            rec["pids"] = pids
    return rec


def format_map(r: dict[str, Any]) -> list[str]:
    lines = [f"{r['id']}: {r['type']}  name {r['name']}  flags {r['flags']:#x}"]
    l2 = f"\tkey {r['bytes_key']}B  value {r['bytes_value']}B  max_entries {r['max_entries']}"
    if "bytes_memlock" in r:
        l2 += f"  memlock {r['bytes_memlock']}B"
    lines.append(l2)
    extra = []
    if r.get("btf_id"):
        extra.append(f"btf_id {r['btf_id']}")
    if r.get("frozen"):
        extra.append("frozen")
    if extra:
        lines.append("\t" + "  ".join(extra))
    return lines + out.owner_lines(r)


def cmd_show(args: argparse.Namespace) -> int:
    return out.show("map", args, map_record, format_map)


class MapAccess:
    """Element access to a map opened by id/pin/name, with BTF codecs when available."""

    def __init__(self, fd: Any) -> None:
        from .. import _sys
        self.fd = fd
        self.info = _sys.map_info(fd)
        self.type = self.info["type"]
        self.key_size = self.info["key_size"]
        self.value_size = self.info["value_size"]
        self.percpu = self.type in PERCPU_TYPES
        self.ncpu = _sys.possible_cpus() if self.percpu else 1
        self.stride = (self.value_size + 7) & ~7 if self.percpu else self.value_size
        self.kcodec = self.vcodec = None
        if self.info["btf_id"] and (self.info["btf_key_type_id"] or
                                    self.info["btf_value_type_id"]):
            self._codecs()

    def _codecs(self) -> None:
        try:
            from ..btf import BTF
            from ..btf.codec import Codec
            btf = BTF.from_kernel_id(self.info["btf_id"])
            if self.info["btf_key_type_id"]:
                self.kcodec = Codec(btf, self.info["btf_key_type_id"])
            if self.info["btf_value_type_id"]:
                self.vcodec = Codec(btf, self.info["btf_value_type_id"])
        except Exception:  # noqa: BLE001 - without codecs we still show raw bytes
            self.kcodec = self.vcodec = None

    @property
    def has_btf(self) -> bool:
        return self.kcodec is not None or self.vcodec is not None

    def keys(self) -> Iterator[bytes]:
        from .. import _sys
        if self.type in NO_KEY_TYPES:
            raise Error(f"map {self.info['id']} ({self.info['name']}): a "
                        f"{_type_name(self.type)} map has no keys to dump")
        cur = None
        nxt = ctypes.create_string_buffer(max(self.key_size, 1))
        while _sys.map_get_next_key(self.fd, cur, nxt):
            k = nxt.raw[:self.key_size]
            yield k
            cur = ctypes.create_string_buffer(k, max(self.key_size, 1))

    def lookup(self, key: bytes) -> bytes:
        from .. import _sys
        buf = ctypes.create_string_buffer(max(self.stride * self.ncpu, 1))
        kb = ctypes.create_string_buffer(key, max(len(key), 1))
        _sys.map_lookup_elem(self.fd, kb, buf)
        return buf.raw[:self.stride * self.ncpu]

    def update(self, key: bytes, value: bytes, flags: int = 0) -> None:
        from .. import _sys
        if self.percpu and len(value) == self.value_size:
            value = value.ljust(self.stride, b"\0") * self.ncpu  # same value on every CPU
        kb = ctypes.create_string_buffer(key, max(len(key), 1))
        vb = ctypes.create_string_buffer(value, max(len(value), 1))
        _sys.map_update_elem(self.fd, kb, vb, flags)

    def delete(self, key: bytes) -> None:
        from .. import _sys
        kb = ctypes.create_string_buffer(key, max(len(key), 1))
        _sys.map_delete_elem(self.fd, kb)

    # --- conversion ------------------------------------------------------------------------
    def parse(self, tokens: list[str], which: str) -> bytes:
        size = self.key_size if which == "key" else self.value_size
        codec = self.kcodec if which == "key" else self.vcodec
        if len(tokens) == 1 and tokens[0][:1] in "{[\"" and codec is not None:
            try:
                return bytes(codec.encode(json.loads(tokens[0])))
            except (ValueError, TypeError, KeyError, AttributeError, OverflowError,
                    Error) as e:
                raise Error(f"map {self.info['id']}: {which} {tokens[0]}: {e}") from None
        return out.parse_bytes(tokens, size, which)

    def formatted(self, data: bytes, which: str) -> Any:
        codec = self.kcodec if which == "key" else self.vcodec
        if codec is None:
            return None
        try:
            return _jsonable(codec.decode(data))
        except Exception:  # noqa: BLE001
            return None

    def entry(self, key: bytes, value: bytes | None, error: str | None = None) -> dict:
        e: dict[str, Any] = {"key": out.hex_list(key)}
        if self.percpu and value is not None:
            e["values"] = [{"cpu": c, "value": out.hex_list(
                value[c * self.stride:c * self.stride + self.value_size])}
                for c in range(self.ncpu)]
        elif value is not None:
            e["value"] = out.hex_list(value)
        if error:
            e["error"] = error
        if self.has_btf:
            f: dict[str, Any] = {"key": self.formatted(key, "key")}
            if value is not None:
                if self.percpu:
                    f["values"] = [{"cpu": c, "value": self.formatted(
                        value[c * self.stride:c * self.stride + self.value_size], "value")}
                        for c in range(self.ncpu)]
                else:
                    f["value"] = self.formatted(value, "value")
            e["formatted"] = f
        return e


def _type_name(t: int) -> str:
    from ..uapi import map_type_name
    return map_type_name(t)


def _jsonable(v: Any) -> Any:
    if isinstance(v, (bytes, bytearray, memoryview)):
        b = bytes(v)
        # char arrays read best as text
        if b and all(32 <= c < 127 or c == 0 for c in b) and b[0]:
            return b.split(b"\0", 1)[0].decode()
        return out.hex_list(b)
    if isinstance(v, dict):
        return {k: _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if hasattr(v, "as_dict"):
        return _jsonable(v.as_dict())
    if hasattr(v, "_asdict"):
        return _jsonable(v._asdict())
    if isinstance(v, (int, float, str, bool)) or v is None:
        return v
    if hasattr(v, "__slots__") or hasattr(v, "__dict__"):
        names = getattr(v, "__slots__", None) or list(vars(v))
        return {n: _jsonable(getattr(v, n)) for n in names if not n.startswith("_")}
    return str(v)


def _human(m: MapAccess, e: dict[str, Any]) -> str:
    if "formatted" in e:
        f = e["formatted"]
        k = json.dumps(f["key"]) if f.get("key") is not None else " ".join(
            x[2:] for x in e["key"])
        if "values" in f:
            v = "  ".join(f"cpu{x['cpu']}: {json.dumps(x['value'])}" for x in f["values"])
        elif "value" in f:
            v = json.dumps(f["value"])
        else:
            v = e.get("error", "")
        return f"key: {k}  value: {v}"
    k = " ".join(x[2:] for x in e["key"])
    if "values" in e:
        parts = [f"value (CPU {x['cpu']:02d}): " + " ".join(b[2:] for b in x["value"])
                 for x in e["values"]]
        return f"key: {k}\n" + "\n".join(parts)
    if "value" in e:
        return f"key: {k}  value: " + " ".join(b[2:] for b in e["value"])
    return f"key: {k}  error: {e.get('error')}"


def cmd_dump(args: argparse.Namespace) -> int:
    with out.open_object("map", args.ref) as fd:
        m = MapAccess(fd)
        entries = []
        for k in m.keys():
            try:
                entries.append(m.entry(k, m.lookup(k)))
            except NotFound:
                continue  # deleted while we walked
            except Error as e:
                entries.append(m.entry(k, None, str(e)))
    if out.wants_json(args):
        out.print_json(entries, args)
    else:
        for e in entries:
            print(_human(m, e))
        print(f"Found {len(entries)} element{'s' if len(entries) != 1 else ''}")
    return 0


def cmd_lookup(args: argparse.Namespace) -> int:
    with out.open_object("map", args.ref) as fd:
        m = MapAccess(fd)
        key = m.parse(args.key, "key")
        try:
            e = m.entry(key, m.lookup(key))
        except NotFound:
            raise Error(f"map {m.info['id']}: key {out.hex_bytes(key)} not found") from None
    if out.wants_json(args):
        out.print_json(e, args)
    else:
        print(_human(m, e))
    return 0


def cmd_update(args: argparse.Namespace) -> int:
    kv = list(args.kv)
    if "value" not in kv:
        if len(kv) != 2:
            raise Error("map update: expected KEY VALUE, or KEY... value VALUE... when "
                        "they take several tokens")
        kv.insert(1, "value")
    i = kv.index("value")
    flags = {"any": 0, "noexist": 1, "exist": 2}[args.flags]
    with out.open_object("map", args.ref) as fd:
        m = MapAccess(fd)
        key, value = m.parse(kv[:i], "key"), m.parse(kv[i + 1:], "value")
        m.update(key, value, flags)
    return 0


def cmd_delete(args: argparse.Namespace) -> int:
    with out.open_object("map", args.ref) as fd:
        m = MapAccess(fd)
        key = m.parse(args.key, "key")
        try:
            m.delete(key)
        except NotFound:
            raise Error(f"map {m.info['id']}: key {out.hex_bytes(key)} not found") from None
    return 0


def cmd_pin(args: argparse.Namespace) -> int:
    from .. import _sys
    with out.open_object("map", args.ref) as fd:
        _sys.obj_pin(fd, args.path)
    return 0
