"""``corebpf prog``: list, show, dump, pin and test-run the programs loaded in the kernel.

    corebpf prog list [--json]
    corebpf prog show ID|PIN|NAME
    corebpf prog dump xlated ID [--linum] [--opcodes]
    corebpf prog pin ID PATH
    corebpf prog run ID --data-in FILE [--data-out FILE] [--ctx-in FILE] [--repeat N]
"""
from __future__ import annotations

import argparse
import struct
import sys
TYPE_CHECKING = False  # typing costs ≈3 ms of start-up; checkers take this as True
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any

from ..errors import Error
from . import _output as out


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("prog", help="inspect programs loaded in the kernel",
                       description=__doc__.split("\n\n")[0].replace("``", ""))
    ps = p.add_subparsers(dest="prog_cmd", metavar="SUBCOMMAND")
    for name in ("list", "show"):
        q = ps.add_parser(name, help="list programs, or show one")
        q.add_argument("ref", nargs="?", metavar="ID", help="id, pinned path or name")
        out.add_json_flags(q)
        out.add_bpffs_flag(q)
        q.set_defaults(func=cmd_show)
    q = ps.add_parser("dump", help="disassemble a program as the kernel holds it")
    q.add_argument("what", choices=("xlated",), help="xlated: the translated instructions")
    q.add_argument("ref", metavar="ID")
    q.add_argument("--linum", action="store_true", help="show file:line:column of source lines")
    q.add_argument("--opcodes", action="store_true", help="show raw instruction bytes")
    out.add_json_flags(q)
    q.set_defaults(func=cmd_dump)
    q = ps.add_parser("pin", help="pin a program to a path in bpffs")
    q.add_argument("ref", metavar="ID")
    q.add_argument("path", metavar="PATH")
    q.set_defaults(func=cmd_pin)
    q = ps.add_parser("run", help="run a program once or N times on given input "
                      "(BPF_PROG_TEST_RUN)")
    q.add_argument("ref", metavar="ID")
    q.add_argument("--data-in", metavar="FILE", help="packet/data input ('-' for stdin)")
    q.add_argument("--data-out", metavar="FILE", help="write the output data here")
    q.add_argument("--ctx-in", metavar="FILE", help="context input")
    q.add_argument("--ctx-out", metavar="FILE", help="write the output context here")
    q.add_argument("--repeat", type=int, default=1, metavar="N")
    out.add_json_flags(q)
    q.set_defaults(func=cmd_run)
    p.set_defaults(func=lambda a: cmd_show(argparse.Namespace(
        ref=None, json=False, pretty=False, bpffs=False)))


def prog_record(fd: Any, with_owners: bool = True) -> dict[str, Any]:
    """What we know about one program, in bpftool's JSON field names."""
    from .. import _sys
    from ..uapi import prog_type_name
    i = _sys.prog_info(fd, map_ids=True)
    rec: dict[str, Any] = {
        "id": i["id"], "type": prog_type_name(i["type"]), "name": i["name"],
        "tag": i["tag"], "gpl_compatible": i["gpl_compatible"],
    }
    if i.get("run_cnt"):
        rec["run_time_ns"], rec["run_cnt"] = i["run_time_ns"], i["run_cnt"]
    if i.get("recursion_misses"):
        rec["recursion_misses"] = i["recursion_misses"]
    rec["loaded_at"] = int(out.boot_to_wall(i["load_time"]))
    rec["uid"] = i["created_by_uid"]
    rec["bytes_xlated"] = i["xlated_prog_len"]
    rec["jited"] = bool(i["jited_prog_len"])
    if i["jited_prog_len"]:
        rec["bytes_jited"] = i["jited_prog_len"]
    mem = out.fdinfo(_sys._fdnum(fd)).get("memlock")
    if mem is not None and mem.isdigit():
        rec["bytes_memlock"] = int(mem)
    if i.get("map_ids"):
        rec["map_ids"] = i["map_ids"]
    if i["btf_id"]:
        rec["btf_id"] = i["btf_id"]
    if i.get("verified_insns"):
        rec["verified_insns"] = i["verified_insns"]
    if with_owners:
        pids = out.owners("prog").get(i["id"])
        if pids:
            rec["pids"] = pids
    return rec


def format_prog(r: dict[str, Any]) -> list[str]:
    head = f"{r['id']}: {r['type']}  name {r['name']}  tag {r['tag']}"
    if r.get("gpl_compatible"):
        head += "  gpl"
    if r.get("run_cnt"):
        head += f"  run_time_ns {r['run_time_ns']} run_cnt {r['run_cnt']}"
    lines = [head, f"\tloaded_at {out.iso_time(r['loaded_at'])}  uid {r['uid']}"]
    l3 = f"\txlated {r['bytes_xlated']}B"
    l3 += f"  jited {r['bytes_jited']}B" if r.get("jited") else "  not jited"
    if "bytes_memlock" in r:
        l3 += f"  memlock {r['bytes_memlock']}B"
    if r.get("map_ids"):
        l3 += "  map_ids " + ",".join(map(str, r["map_ids"]))
    lines.append(l3)
    if r.get("btf_id"):
        lines.append(f"\tbtf_id {r['btf_id']}")
    return lines + out.owner_lines(r)


def cmd_show(args: argparse.Namespace) -> int:
    return out.show("prog", args, prog_record, format_prog)


# --- dump ----------------------------------------------------------------------------------

def _btf_strings(btf_id: int) -> bytes:
    """The string section of the kernel-held BTF object ``btf_id``."""
    from .. import _sys
    with _sys.btf_get_fd_by_id(btf_id) as fd:
        blob = _sys.btf_info(fd, data=True)["btf"]
    if len(blob) < 24:
        return b""
    hdr_len, _toff, _tlen, soff, slen = struct.unpack_from("<IIIII", blob, 4)
    return blob[hdr_len + soff:hdr_len + soff + slen]


def _str(strings: bytes, off: int) -> str:
    if off >= len(strings):
        return ""
    end = strings.find(b"\0", off)
    return strings[off:end if end >= 0 else None].decode("utf-8", "replace")


def _func_names(btf_id: int, func_info: bytes, rec_size: int) -> dict[int, str]:
    """insn offset -> function name, from func_info records and the program's BTF."""
    if not btf_id or not func_info:
        return {}
    try:
        from ..btf import BTF
        btf = BTF.from_kernel_id(btf_id)
    except Exception:  # noqa: BLE001 - names are decoration; the dump stands without them
        return {}
    names = {}
    for off in range(0, len(func_info) - rec_size + 1, rec_size):
        insn_off, type_id = struct.unpack_from("<II", func_info, off)
        try:
            names[insn_off] = btf.type_name(type_id) or f"func_{insn_off}"
        except Exception:  # noqa: BLE001
            names[insn_off] = f"func_{insn_off}"
    return names


def xlated_listing(fd: Any, linum: bool = False, opcodes: bool = False) -> list[dict[str, Any]]:
    """The translated instructions of a program, one dict per instruction:
    ``{"pc", "disasm", "opcodes"?, "src"?, "func"?}``."""
    from .. import _sys, asm
    i = _sys.prog_info(fd, xlated=True, func_info=True, line_info=True, jited_ksyms=True)
    raw = i.get("xlated_prog_insns") or b""
    if not raw and i["xlated_prog_len"]:
        raise Error(f"prog {i['id']}: the kernel hides its instructions (kptr restrict?)")
    strings = _btf_strings(i["btf_id"]) if i["btf_id"] and i.get("line_info") else b""
    lines_at: dict[int, tuple[str, int, int, str]] = {}
    li, rs = i.get("line_info") or b"", i.get("line_info_rec_size") or 16
    for off in range(0, len(li) - rs + 1, rs):
        insn_off, file_off, line_off, line_col = struct.unpack_from("<IIII", li, off)
        lines_at[insn_off] = (_str(strings, file_off), line_col >> 10, line_col & 0x3FF,
                              _str(strings, line_off).strip())
    funcs = _func_names(i["btf_id"], i.get("func_info") or b"",
                        i.get("func_info_rec_size") or 8)
    helper_names = asm.kallsyms_call_name()
    ksyms = i.get("jited_ksyms") or []
    bpf_syms = _bpf_kallsyms() if ksyms else {}

    def call_name(ins: Any) -> str | None:
        # a bpf-to-bpf call in a JITed program: imm indexes the subprograms' JIT symbols,
        # named bpf_prog_<tag>_<func> in kallsyms (what bpftool prints too)
        if ins.src == 1:
            if 0 <= ins.imm < len(ksyms):
                return bpf_syms.get(ksyms[ins.imm], f"{ksyms[ins.imm]:#x}")
            return None
        return helper_names(ins)
    insns = asm.decode(raw)
    res = []
    pc = 0
    for ins in insns:
        d: dict[str, Any] = {"pc": pc, "disasm": asm.format_insn(ins, call_name)}
        if pc in funcs:
            d["func"] = funcs[pc]
        if pc in lines_at:
            f, ln, col, text = lines_at[pc]
            d["src"] = text
            if linum:
                d["file"], d["line"], d["column"] = f, ln, col
        if opcodes:
            d["opcodes"] = raw[pc * 8:(pc + ins.slots) * 8].hex(" ")
        res.append(d)
        pc += ins.slots
    return res


def _bpf_kallsyms() -> dict[int, str]:
    """Addresses of JITed BPF code (``[bpf]`` symbols) in /proc/kallsyms."""
    res = {}
    try:
        with open("/proc/kallsyms", "rb") as f:
            for line in f:
                if line.endswith(b"[bpf]\n"):
                    parts = line.split()
                    res[int(parts[0], 16)] = parts[2].decode()
    except OSError:
        pass
    return res


def cmd_dump(args: argparse.Namespace) -> int:
    with out.open_object("prog", args.ref) as fd:
        listing = xlated_listing(fd, args.linum, args.opcodes)
    if out.wants_json(args):
        out.print_json(listing, args)
        return 0
    w = sys.stdout.write
    for d in listing:
        if "func" in d:
            w(f"{d['func']}:\n")
        if "src" in d:
            where = f" [file:{d['file']} line_num:{d['line']} line_col:{d['column']}]" \
                if "file" in d else ""
            w(f"; {d['src']}{where}\n")
        w(f"{d['pc']:4d}: {d['disasm']}\n")
        if "opcodes" in d:
            w(f"       {d['opcodes']}\n")
    return 0


def cmd_pin(args: argparse.Namespace) -> int:
    from .. import _sys
    with out.open_object("prog", args.ref) as fd:
        _sys.obj_pin(fd, args.path)
    return 0


def _read(path: str | None) -> bytes | None:
    if path is None:
        return None
    if path == "-":
        return sys.stdin.buffer.read()
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        raise Error(f"prog run: cannot read {path}: {e.strerror}") from None


def _write(path: str | None, data: bytes | None) -> None:
    if path is None or data is None:
        return
    if path == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        return
    with open(path, "wb") as f:
        f.write(data)


def cmd_run(args: argparse.Namespace) -> int:
    from .. import _sys
    if args.repeat < 1:
        raise Error("prog run: --repeat must be at least 1")
    data, ctx = _read(args.data_in), _read(args.ctx_in)
    with out.open_object("prog", args.ref) as fd:
        # ask for an output context only when wanted: raw_tp refuses ctx_out (and repeat)
        ctx_out = len(ctx) if (ctx is not None and args.ctx_out) else 0
        r = _sys.prog_test_run(fd, data, ctx=ctx, ctx_out_size=ctx_out,
                               repeat=args.repeat if args.repeat > 1 else 0)
    _write(args.data_out, r.data)
    _write(args.ctx_out, r.ctx)
    if out.wants_json(args):
        out.print_json({"retval": r.retval, "duration": r.duration}, args)
    else:
        print(f"Return value: {r.retval}, duration{' (average)' if args.repeat > 1 else ''}: "
              f"{r.duration}ns")
    return 0
