"""``corebpf inspect OBJECT [--json] [--disasm [--program NAME]...]``

Shows what a compiled BPF object holds, without loading it: programs (section, program type,
expected attach type, attach target, instruction count, relocations by kind, CO-RE records),
subprograms, maps (type, key/value sizes and BTF type names, max_entries, flags, pinning,
inner map, initial slots), global variables (section, offset, size, type, initial value) and
externs (.kconfig / .ksyms). Needs no privileges and no kernel support.
"""
from __future__ import annotations

import argparse
import sys
from typing import Any

from ._output import add_json_flags, print_json, table, wants_json

RELO_KINDS = ("map", "data", "call", "func_ptr", "kconfig", "ksym", "kfunc")
_MAP_FLAGS = ((1 << 0, "no_prealloc"), (1 << 1, "no_common_lru"), (1 << 2, "numa_node"),
              (1 << 3, "rdonly"), (1 << 4, "wronly"), (1 << 5, "stack_build_id"),
              (1 << 6, "zero_seed"), (1 << 7, "rdonly_prog"), (1 << 8, "wronly_prog"),
              (1 << 9, "clone"), (1 << 10, "mmapable"), (1 << 11, "preserve_elems"),
              (1 << 12, "inner_map"), (1 << 13, "link"), (1 << 14, "path_fd"))


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("inspect", help="show the programs, maps and variables of an object",
                       description=__doc__.split("\n\n", 1)[1] if __doc__ else None)
    p.add_argument("object", help="compiled BPF object (.bpf.o)")
    p.add_argument("-d", "--disasm", action="store_true",
                   help="also disassemble the programs, with source lines and relocations")
    p.add_argument("--program", action="append", default=[], metavar="NAME",
                   help="with --disasm: only this function (repeat for several)")
    add_json_flags(p)
    p.set_defaults(func=run)


def flag_names(flags: int, table_: tuple = _MAP_FLAGS) -> list[str]:
    out = [name for bit, name in table_ if flags & bit]
    rest = flags & ~sum(bit for bit, _ in table_)
    if rest:
        out.append(hex(rest))
    return out


def _type_name(btf: Any, tid: int) -> str:
    if not tid or btf is None:
        return ""
    try:
        return btf.type_name(tid)
    except Exception:  # a name is a nicety: never fail the listing for it
        return f"[{tid}]"


def _relo_counts(p: Any) -> dict[str, int]:
    counts = {k: 0 for k in RELO_KINDS}
    for r in p.relocations:
        counts[r.kind] = counts.get(r.kind, 0) + 1
    return counts


def describe(spec: Any) -> dict[str, Any]:
    """A JSON-ready description of an ObjectSpec."""
    from .. import uapi as U
    btf = spec.btf

    def prog(p: Any) -> dict[str, Any]:
        d: dict[str, Any] = {
            "name": p.name, "section": p.section, "insns": p.insn_count,
            "relocations": _relo_counts(p), "core_relocations": len(p.core_relos),
            "func_info": len(p.func_info), "line_info": len(p.line_info),
        }
        if not p.is_subprog:
            d.update({
                "type": U.prog_type_name(p.type),
                "attach_type": U.attach_type_name(p.expected_attach_type) or None,
                "attach_to": p.attach_to or None,
                "sleepable": p.sleepable, "autoload": p.autoload,
                "flags": p.flags,
                "auto_attach": p.sec_def.auto_attach if p.sec_def is not None else None,
            })
            if p.sec_def is None:
                d["warning"] = "unknown section: program type not known"
        else:
            d["global"] = p.global_func
        return d

    def map_(m: Any) -> dict[str, Any]:
        d: dict[str, Any] = {
            "name": m.name, "kernel_name": m.kernel_name, "type": m.type_name,
            "key_size": m.key_size, "value_size": m.value_size,
            "max_entries": m.max_entries, "flags": flag_names(m.flags),
            "key_type": _type_name(btf, m.key_type) or None,
            "value_type": _type_name(btf, m.value_type) or None,
        }
        if m.max_entries_default_cpus:
            d["max_entries"] = "possible CPUs"
        if m.pinning:
            d["pinning"] = "by_name"
        if m.numa_node:
            d["numa_node"] = m.numa_node
        if m.map_extra:
            d["map_extra"] = m.map_extra
        if m.inner is not None:
            d["inner"] = map_(m.inner)
        if m.init_slots:
            d["initial_slots"] = {str(k): v for k, v in sorted(m.init_slots.items())}
        if m.internal:
            d["internal"] = m.internal
            d["frozen"] = m.freeze
        if m.struct_ops_progs:
            d["struct_ops"] = dict(m.struct_ops_progs)
        return d

    def var(v: Any) -> dict[str, Any]:
        val = v.value
        return {"name": v.name, "section": v.section, "offset": v.offset, "size": v.size,
                "type": _type_name(btf, v.type_id) or None, "global": v.global_var,
                "initial": val.hex() if len(val) <= 64 else val[:64].hex() + "..."}

    def ext(e: Any) -> dict[str, Any]:
        d = {"name": e.name, "kind": e.kind, "weak": e.weak,
             "type": _type_name(btf, getattr(btf[e.type_id], "type", 0)) if btf and
             e.kind != "kfunc" else None}
        if e.kind == "kconfig":
            d.update(kconfig_type=e.kconfig_type, offset=e.offset, size=e.size)
        if e.kind == "ksym":
            d["typeless"] = e.typeless
        return d

    progs = [p for p in spec.functions.values() if not p.is_subprog]
    subs = [p for p in spec.functions.values() if p.is_subprog]
    totals = {k: 0 for k in RELO_KINDS}
    core = 0
    for p in spec.functions.values():
        for k, n in _relo_counts(p).items():
            totals[k] = totals.get(k, 0) + n
        core += len(p.core_relos)
    return {
        "path": spec.path, "name": spec.name, "license": spec.license,
        "kern_version": spec.kern_version, "btf": spec.btf is not None,
        "programs": [prog(p) for p in progs],
        "subprograms": [prog(p) for p in subs],
        "maps": [map_(m) for m in spec.maps.values()],
        "variables": [var(v) for v in spec.variables.values()],
        "externs": [ext(e) for e in spec.externs.values()],
        "relocations": totals, "core_relocations": core,
    }


def disassemble(p: Any) -> list[str]:
    """Kernel-style listing of one function: source lines from line_info as ``;`` comments
    and each relocation's target after the instruction it patches."""
    from .. import asm
    relos = {r.insn: r for r in p.relocations}
    lines_at = {}
    for li in p.line_info:
        lines_at.setdefault(li.insn_off, li)
    out: list[str] = []
    pc = 0
    last = None
    for ins in asm.decode(p.insns):
        li = lines_at.get(pc)
        if li is not None and (li.text or li.line) and (li.file, li.line) != last:
            last = (li.file, li.line)
            where = f"{li.file.rsplit('/', 1)[-1]}:{li.line}" if li.file else f"line {li.line}"
            out.append(f"; {li.text.strip()} @ {where}" if li.text else f"; @ {where}")
        text = f"{pc:4d}: {asm.format_insn(ins)}"
        r = relos.get(pc)
        if r is not None:
            text += f"  ; {r.kind} {r.target}" + (f"+{r.offset}" if r.offset else "")
        out.append(text)
        pc += ins.slots
    return out


def _fmt_relocs(counts: dict[str, int]) -> str:
    return " ".join(f"{k}={n}" for k, n in counts.items() if n) or "-"


def render(d: dict[str, Any]) -> list[str]:
    """Human-readable lines for ``describe()``'s result."""
    out = [f"object {d['path']} (name {d['name']!r}), license {d['license'] or '-'!s}"
           + (f", kernel version {d['kern_version']:#x}" if d["kern_version"] else "")
           + ("" if d["btf"] else ", no BTF")]
    out.append("")
    out.append(f"programs ({len(d['programs'])}):" if d["programs"] else "programs: (none)")
    rows = [(p["name"], p["section"], p["type"], p["attach_type"] or "-",
             p["attach_to"] or "-", p["insns"], _fmt_relocs(p["relocations"]),
             p["core_relocations"] or "-",
             ",".join(x for x, on in (("sleepable", p["sleepable"]),
                                      ("noautoload", not p["autoload"]),
                                      ("unknown-section", "warning" in p)) if on) or "-")
            for p in d["programs"]]
    if rows:
        out += ["  " + ln for ln in table(rows, ("NAME", "SECTION", "TYPE", "ATTACH TYPE",
                                                 "TARGET", "INSNS", "RELOCATIONS", "CO-RE",
                                                 "NOTES"), right=(5, 7))]
    if d["subprograms"]:
        out.append("")
        out.append(f"subprograms ({len(d['subprograms'])}):")
        rows = [(p["name"], "global" if p["global"] else "static", p["insns"],
                 _fmt_relocs(p["relocations"]), p["core_relocations"] or "-")
                for p in d["subprograms"]]
        out += ["  " + ln for ln in table(rows, ("NAME", "LINKAGE", "INSNS", "RELOCATIONS",
                                                 "CO-RE"), right=(2,))]
    out.append("")
    out.append(f"maps ({len(d['maps'])}):")
    rows = []
    for m in d["maps"]:
        notes = []
        if m.get("pinning"):
            notes.append("pinned")
        if m.get("inner"):
            i = m["inner"]
            notes.append(f"inner={i['type']}({i['key_size']}/{i['value_size']}x"
                         f"{i['max_entries']})")
        if m.get("initial_slots"):
            notes.append("init=" + ",".join(f"{k}:{v}" for k, v in m["initial_slots"].items()))
        if m.get("frozen"):
            notes.append("frozen")
        if m.get("struct_ops"):
            notes.append("ops=" + ",".join(f"{k}:{v}" for k, v in m["struct_ops"].items()))
        if m.get("map_extra"):
            notes.append(f"extra={m['map_extra']}")
        rows.append((m["name"], m["type"], m["key_size"], m["value_size"], m["max_entries"],
                     ",".join(m["flags"]) or "-", m["key_type"] or "-", m["value_type"] or "-",
                     " ".join(notes) or "-"))
    if rows:
        out += ["  " + ln for ln in table(rows, ("NAME", "TYPE", "KEY", "VALUE", "MAX_ENTRIES",
                                                 "FLAGS", "KEY TYPE", "VALUE TYPE", "NOTES"),
                                          right=(2, 3, 4))]
    else:
        out.append("  (none)")
    if d["variables"]:
        out.append("")
        out.append(f"variables ({len(d['variables'])}):")
        rows = [(v["name"], v["section"], v["offset"], v["size"], v["type"] or "-",
                 (v["initial"][:32] + ("..." if len(v["initial"]) > 32 else "")) or "-")
                for v in d["variables"]]
        out += ["  " + ln for ln in table(rows, ("NAME", "SECTION", "OFFSET", "SIZE", "TYPE",
                                                 "INITIAL"), right=(2, 3))]
    if d["externs"]:
        out.append("")
        out.append(f"externs ({len(d['externs'])}):")
        rows = [(e["name"], e["kind"], e["type"] or "-",
                 "weak" if e["weak"] else "-") for e in d["externs"]]
        out += ["  " + ln for ln in table(rows, ("NAME", "KIND", "TYPE", "WEAK"))]
    out.append("")
    out.append(f"relocations: {_fmt_relocs(d['relocations'])}; CO-RE records: "
               f"{d['core_relocations']}")
    return out


def run(args: argparse.Namespace) -> int:
    from ..spec import ObjectSpec
    from ..errors import Error
    spec = ObjectSpec.from_file(args.object)
    d = describe(spec)
    listings: dict[str, list[str]] = {}
    if getattr(args, "disasm", False):
        names = args.program or list(spec.functions)
        for n in names:
            if n not in spec.functions:
                raise Error(f"{args.object}: no function {n!r} (have: "
                            f"{', '.join(spec.functions) or 'none'})")
            listings[n] = disassemble(spec.functions[n])
    if wants_json(args):
        if listings:
            d["disasm"] = listings
        print_json(d, args)
    else:
        out = render(d)
        for n, lines in listings.items():
            f = spec.functions[n]
            out += ["", f"{n} ({f.section}, {f.insn_count} insns):"] + ["  " + x for x in lines]
        sys.stdout.write("\n".join(out) + "\n")
    return 0
