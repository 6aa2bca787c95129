"""``corebpf btf``: print BTF as a C header or as a raw type list; list kernel BTF objects.

    corebpf btf dump [FILE] [--format c|raw] [--type NAME]... [--json]
    corebpf btf dump --id ID [--format c|raw]
    corebpf btf list [--json]

FILE defaults to /sys/kernel/btf/vmlinux; it may be raw BTF, an ELF object (its .BTF
section) or a module's /sys/kernel/btf/<module> (split BTF on top of vmlinux; ``--base``
names another base). ``--format c`` prints a ``vmlinux.h``; ``raw`` lists every type the
way ``bpftool btf dump file FILE format raw`` does.
"""
from __future__ import annotations

import argparse
import os
import sys

TYPE_CHECKING = False  # typing costs ≈3 ms of start-up; type checkers take this as True
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, Iterator

from . import _output as out

VMLINUX = "/sys/kernel/btf/vmlinux"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("btf", help="dump BTF as C or raw types; list kernel BTF",
                       description=__doc__.split("\n\n")[0])
    ps = p.add_subparsers(dest="btf_cmd", metavar="SUBCOMMAND")
    q = ps.add_parser("dump", help="print the types of a BTF file, object or kernel BTF id")
    q.add_argument("file", nargs="?", metavar="FILE",
                   help=f"raw BTF, ELF object or sysfs BTF (default {VMLINUX})")
    q.add_argument("--id", type=int, metavar="ID", help="a BTF object loaded in the kernel")
    q.add_argument("--format", "-f", choices=("c", "raw"), default=None,
                   help="c: a C header (vmlinux.h); raw: one line per type (default)")
    q.add_argument("--type", "-t", action="append", metavar="NAME",
                   help="only this type (and, for C, what it needs); repeatable")
    q.add_argument("--base", metavar="FILE", help="base BTF of a split BTF FILE")
    q.add_argument("-o", "--output", metavar="PATH", help="write to PATH instead of stdout")
    out.add_json_flags(q)
    q.set_defaults(func=cmd_dump)
    q = ps.add_parser("list", help="list BTF objects loaded in the kernel")
    out.add_json_flags(q)
    q.set_defaults(func=cmd_list)
    p.set_defaults(func=lambda a: (p.print_help(), 2)[1])


# ----------------------------------------------------------------------------- loading

def open_btf(path: str | None, base: str | None = None, btf_id: int | None = None) -> Any:
    """The BTF named on the command line (file, sysfs module BTF or kernel id)."""
    from ..btf import BTF
    from ..errors import BTFError

    if btf_id is not None:
        return BTF.from_kernel_id(btf_id)
    path = path or VMLINUX
    if "\0" in path:
        raise BTFError(f"{path!r}: the path contains a NUL byte")
    if not os.path.exists(path):
        raise BTFError(f"{path}: no such file")
    real = os.path.realpath(path)
    if real == os.path.realpath(VMLINUX):
        return BTF.kernel()
    if base is not None:
        return BTF.from_file(path, base=BTF.from_file(base))
    if os.path.dirname(real) == os.path.dirname(os.path.realpath(VMLINUX)):
        return BTF.kernel_module(os.path.basename(real))
    return BTF.from_file(path)


# ----------------------------------------------------------------------------- dump

def _raw_blob(path: str) -> bytes | None:
    """The bytes of a standalone raw BTF file (vmlinux): the dumpers read them directly,
    no type index needed. None for ELF objects and split (module) BTF."""
    if "\0" in path:
        return None  # open_btf says what is wrong with the path
    real = os.path.realpath(path)
    sysfs = os.path.dirname(os.path.realpath(VMLINUX))
    if os.path.dirname(real) == sysfs and real != os.path.realpath(VMLINUX):
        return None  # a module: split BTF on top of vmlinux
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return None
    return data if data[:2] == b"\x9f\xeb" else None


def cmd_dump(args: argparse.Namespace) -> int:
    from ..errors import BTFError

    fmt = args.format or "raw"
    btf = None
    if not args.type and not out.wants_json(args) and args.id is None and args.base is None:
        btf = _raw_blob(args.file or VMLINUX)
    if btf is None:
        btf = open_btf(args.file, args.base, args.id)
    ids = None
    if args.type:
        ids = []
        for name in args.type:
            found = [int(name)] if name.isdigit() else btf.find(name)
            if not found:
                raise BTFError(f"no type named {name!r} in {args.file or VMLINUX}")
            ids.extend(found)
    if fmt == "c":
        if out.wants_json(args):
            raise BTFError("--json goes with --format raw, not c")
        from ..btf.cdump import dump_c
        text = dump_c(btf, ids)
    elif out.wants_json(args):
        out_json = {"types": list(raw_json(btf, ids))}
        if args.output:
            import json
            with open(args.output, "w") as f:
                json.dump(out_json, f, indent=2 if args.pretty else None)
            return 0
        out.print_json(out_json, args)
        return 0
    else:
        from ..btf.cdump import dump_raw
        text = dump_raw(btf, ids)
    if args.output:
        with open(args.output, "w") as f:
            f.write(text)
    else:
        sys.stdout.write(text)
        sys.stdout.flush()
    return 0


_ENC = {0: "(none)", 1: "SIGNED", 2: "CHAR", 4: "BOOL"}
_LINKAGE = {0: "static", 1: "global", 2: "extern"}


def raw_json(btf: Any, ids: list[int] | None = None) -> Iterator[dict]:
    """The types as dicts (bpftool's JSON field names)."""
    from ..btf import types as T

    for tid in (ids if ids is not None else range(btf.start_id, len(btf))):
        t = btf[tid]
        k = t.kind
        d: dict[str, Any] = {"id": tid, "kind": t.kind_name, "name": t.name or "(anon)"}
        if k == T.INT:
            d.update(size=t.size, bits_offset=t.offset, nr_bits=t.bits,
                     encoding=_ENC.get(t.encoding, "UNKN"))
        elif k in (T.PTR, T.TYPEDEF, T.VOLATILE, T.CONST, T.RESTRICT, T.TYPE_TAG):
            d["type_id"] = t.type
        elif k == T.ARRAY:
            d.update(type_id=t.type, index_type_id=t.index_type, nr_elems=t.nelems)
        elif k in (T.STRUCT, T.UNION):
            d.update(size=t.size, vlen=len(t.members), members=[
                {"name": m.name or "(anon)", "type_id": m.type, "bits_offset": m.bit_offset,
                 **({"bitfield_size": m.bitfield_size} if m.bitfield_size else {})}
                for m in t.members])
        elif k in (T.ENUM, T.ENUM64):
            d.update(encoding="SIGNED" if t.signed else "UNSIGNED", size=t.size,
                     vlen=len(t.values),
                     values=[{"name": v.name, "val": v.value} for v in t.values])
        elif k == T.FWD:
            d["fwd_kind"] = "union" if t.union else "struct"
        elif k == T.FUNC:
            d.update(type_id=t.type, linkage=_LINKAGE.get(t.linkage, t.linkage))
        elif k == T.FUNC_PROTO:
            d.update(ret_type_id=t.return_type, vlen=len(t.params), params=[
                {"name": p.name or "(anon)", "type_id": p.type} for p in t.params])
        elif k == T.VAR:
            d.update(type_id=t.type, linkage=_LINKAGE.get(t.linkage, t.linkage))
        elif k == T.DATASEC:
            d.update(size=t.size, vlen=len(t.vars), vars=[
                {"type_id": v.type, "offset": v.offset, "size": v.size} for v in t.vars])
        elif k == T.FLOAT:
            d["size"] = t.size
        elif k == T.DECL_TAG:
            d.update(type_id=t.type, component_idx=t.component_idx)
        yield d


# ----------------------------------------------------------------------------- list

def cmd_list(args: argparse.Namespace) -> int:
    rows = list(kernel_btfs())
    if out.wants_json(args):
        out.print_json(rows, args)
        return 0
    for r in rows:
        name = f"[{r['name']}]" if r["kernel_btf"] else (r["name"] or "<anon>")
        line = f"{r['id']}: name {name}  size {r['size']}B"
        if r.get("prog_ids"):
            line += "  prog_ids " + ",".join(map(str, r["prog_ids"]))
        if r.get("map_ids"):
            line += "  map_ids " + ",".join(map(str, r["map_ids"]))
        print(line)
    return 0


def kernel_btfs() -> Iterator[dict]:
    """Every BTF object in the kernel: id, name, size, kernel_btf, and the programs and
    maps that use it."""
    from .. import _sys
    from ..errors import KernelError

    users: dict[int, dict[str, list[int]]] = {}

    def _scan(next_id: Any, get_fd: Any, info: Any, key: str) -> None:
        cur = 0
        while True:
            try:
                cur = next_id(cur)
            except KernelError:
                return
            if cur is None:
                return
            try:
                with get_fd(cur) as fd:
                    bid = info(fd).get("btf_id", 0)
            except KernelError:
                continue
            if bid:
                users.setdefault(bid, {"prog_ids": [], "map_ids": []})[key].append(cur)

    _scan(_sys.prog_get_next_id, _sys.prog_get_fd_by_id, _sys.prog_info, "prog_ids")
    _scan(_sys.map_get_next_id, _sys.map_get_fd_by_id, _sys.map_info, "map_ids")
    cur = 0
    while True:
        cur = _sys.btf_get_next_id(cur)
        if cur is None:
            return
        try:
            with _sys.btf_get_fd_by_id(cur) as fd:
                info = _sys.btf_info(fd)
        except KernelError:
            continue
        row = {"id": info["id"], "name": info["name"], "size": info["btf_size"],
               "kernel_btf": info["kernel_btf"]}
        row.update(users.get(info["id"], {}))
        yield row
