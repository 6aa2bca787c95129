"""eBPF instruction set: opcodes, ``Instruction``, decode/encode, disassembler, assembler.

Instructions travel through corebpf as raw ``bytearray`` (see docs/architecture.md); this
module is for looking at them (decode, kernel-style text) and for writing small programs in
Python (tests, feature probes). Everything here is plain ints and dicts so that importing it
stays cheap.
"""
from __future__ import annotations

import struct as _struct
TYPE_CHECKING = False  # typing costs ≈3 ms of start-up; type checkers take this as True
if TYPE_CHECKING:  # pragma: no cover
    from typing import Callable, Iterable, Sequence

from .errors import Error

# ---------------------------------------------------------------- opcode fields
# instruction classes (low 3 bits)
LD, LDX, ST, STX, ALU, JMP, JMP32, ALU64 = 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07
# sizes (bits 3-4 of load/store)
W, H, B, DW = 0x00, 0x08, 0x10, 0x18
# modes (bits 5-7 of load/store)
IMM, ABS, IND, MEM, MEMSX, ATOMIC = 0x00, 0x20, 0x40, 0x60, 0x80, 0xC0
# ALU operations (bits 4-7)
ADD, SUB, MUL, DIV, OR, AND, LSH, RSH = 0x00, 0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70
NEG, MOD, XOR, MOV, ARSH, END = 0x80, 0x90, 0xA0, 0xB0, 0xC0, 0xD0
# jump operations (bits 4-7)
JA, JEQ, JGT, JGE, JSET, JNE, JSGT, JSGE = 0x00, 0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70
CALL, EXIT, JLT, JLE, JSLT, JSLE, JCOND = 0x80, 0x90, 0xA0, 0xB0, 0xC0, 0xD0, 0xE0
# source (bit 3)
K, X = 0x00, 0x08
# byte-swap direction for END (in the source bit)
TO_LE, TO_BE = 0x00, 0x08
# atomic operations (in imm)
FETCH = 0x01
XCHG = 0xE0 | FETCH
CMPXCHG = 0xF0 | FETCH
LOAD_ACQ = 0x100
STORE_REL = 0x110
# may_goto is JMP|JCOND with src 0
MAY_GOTO = 0

CLASS_NAMES = {LD: "ld", LDX: "ldx", ST: "st", STX: "stx", ALU: "alu", JMP: "jmp",
               JMP32: "jmp32", ALU64: "alu64"}
SIZE_BYTES = {W: 4, H: 2, B: 1, DW: 8}

# pseudo source registers of ld_imm64 (MAP_FD..MAP_IDX_VALUE) and of calls (CALL,
# KFUNC_CALL): one definition, in uapi (a leaf of plain ints)
from .uapi import (PSEUDO_BTF_ID, PSEUDO_CALL, PSEUDO_FUNC,  # noqa: E402,F401
                   PSEUDO_KFUNC_CALL, PSEUDO_MAP_FD, PSEUDO_MAP_IDX, PSEUDO_MAP_IDX_VALUE,
                   PSEUDO_MAP_VALUE)

LD_IMM64 = LD | IMM | DW  # 0x18
R0, R1, R2, R3, R4, R5, R6, R7, R8, R9, R10 = range(11)

# The kernel's __BPF_FUNC_MAPPER, in id order (ids 0..211 are contiguous), as in Linux 6.18.
_HELPER_NAMES = """
    unspec map_lookup_elem map_update_elem map_delete_elem probe_read ktime_get_ns trace_printk 
    get_prandom_u32 get_smp_processor_id skb_store_bytes l3_csum_replace l4_csum_replace tail_call 
    clone_redirect get_current_pid_tgid get_current_uid_gid get_current_comm get_cgroup_classid 
    skb_vlan_push skb_vlan_pop skb_get_tunnel_key skb_set_tunnel_key perf_event_read redirect 
    get_route_realm perf_event_output skb_load_bytes get_stackid csum_diff skb_get_tunnel_opt 
    skb_set_tunnel_opt skb_change_proto skb_change_type skb_under_cgroup get_hash_recalc 
    get_current_task probe_write_user current_task_under_cgroup skb_change_tail skb_pull_data 
    csum_update set_hash_invalid get_numa_node_id skb_change_head xdp_adjust_head probe_read_str 
    get_socket_cookie get_socket_uid set_hash setsockopt skb_adjust_room redirect_map 
    sk_redirect_map sock_map_update xdp_adjust_meta perf_event_read_value perf_prog_read_value 
    getsockopt override_return sock_ops_cb_flags_set msg_redirect_map msg_apply_bytes 
    msg_cork_bytes msg_pull_data bind xdp_adjust_tail skb_get_xfrm_state get_stack 
    skb_load_bytes_relative fib_lookup sock_hash_update msg_redirect_hash sk_redirect_hash 
    lwt_push_encap lwt_seg6_store_bytes lwt_seg6_adjust_srh lwt_seg6_action rc_repeat rc_keydown 
    skb_cgroup_id get_current_cgroup_id get_local_storage sk_select_reuseport 
    skb_ancestor_cgroup_id sk_lookup_tcp sk_lookup_udp sk_release map_push_elem map_pop_elem 
    map_peek_elem msg_push_data msg_pop_data rc_pointer_rel spin_lock spin_unlock sk_fullsock 
    tcp_sock skb_ecn_set_ce get_listener_sock skc_lookup_tcp tcp_check_syncookie sysctl_get_name 
    sysctl_get_current_value sysctl_get_new_value sysctl_set_new_value strtol strtoul 
    sk_storage_get sk_storage_delete send_signal tcp_gen_syncookie skb_output probe_read_user 
    probe_read_kernel probe_read_user_str probe_read_kernel_str tcp_send_ack send_signal_thread 
    jiffies64 read_branch_records get_ns_current_pid_tgid xdp_output get_netns_cookie 
    get_current_ancestor_cgroup_id sk_assign ktime_get_boot_ns seq_printf seq_write sk_cgroup_id 
    sk_ancestor_cgroup_id ringbuf_output ringbuf_reserve ringbuf_submit ringbuf_discard 
    ringbuf_query csum_level skc_to_tcp6_sock skc_to_tcp_sock skc_to_tcp_timewait_sock 
    skc_to_tcp_request_sock skc_to_udp6_sock get_task_stack load_hdr_opt store_hdr_opt 
    reserve_hdr_opt inode_storage_get inode_storage_delete d_path copy_from_user snprintf_btf 
    seq_printf_btf skb_cgroup_classid redirect_neigh per_cpu_ptr this_cpu_ptr redirect_peer 
    task_storage_get task_storage_delete get_current_task_btf bprm_opts_set ktime_get_coarse_ns 
    ima_inode_hash sock_from_file check_mtu for_each_map_elem snprintf sys_bpf 
    btf_find_by_name_kind sys_close timer_init timer_set_callback timer_start timer_cancel 
    get_func_ip get_attach_cookie task_pt_regs get_branch_snapshot trace_vprintk skc_to_unix_sock 
    kallsyms_lookup_name find_vma loop strncmp get_func_arg get_func_ret get_func_arg_cnt 
    get_retval set_retval xdp_get_buff_len xdp_load_bytes xdp_store_bytes copy_from_user_task 
    skb_set_tstamp ima_file_hash kptr_xchg map_lookup_percpu_elem skc_to_mptcp_sock 
    dynptr_from_mem ringbuf_reserve_dynptr ringbuf_submit_dynptr ringbuf_discard_dynptr 
    dynptr_read dynptr_write dynptr_data tcp_raw_gen_syncookie_ipv4 tcp_raw_gen_syncookie_ipv6 
    tcp_raw_check_syncookie_ipv4 tcp_raw_check_syncookie_ipv6 ktime_get_tai_ns user_ringbuf_drain 
    cgrp_storage_get cgrp_storage_delete 
"""
HELPER_NAMES: list[str] = _HELPER_NAMES.split()
#: helper name (without the ``bpf_`` prefix) -> id
HELPERS: dict[str, int] = {n: i for i, n in enumerate(HELPER_NAMES)}
del _HELPER_NAMES


class AsmError(Error):
    """Malformed instruction bytes, or an assembler misuse (unknown label, helper...)."""


# ---------------------------------------------------------------- the instruction model
_INSN = _struct.Struct("<BBhi")
_U32 = 0xFFFFFFFF
_U64 = 0xFFFFFFFFFFFFFFFF


class Instruction:
    """One eBPF instruction; an ``ld_imm64`` is one Instruction with a 64-bit ``imm``
    occupying two 8-byte slots (``slots == 2``)."""

    __slots__ = ("opcode", "dst", "src", "off", "imm")

    def __init__(self, opcode: int, dst: int = 0, src: int = 0, off: int = 0,
                 imm: int = 0) -> None:
        self.opcode = opcode
        self.dst = dst
        self.src = src
        self.off = off
        self.imm = imm

    @property
    def slots(self) -> int:
        """Number of 8-byte slots this instruction takes (2 for ld_imm64)."""
        return 2 if self.opcode == LD_IMM64 else 1

    @property
    def cls(self) -> int:
        return self.opcode & 0x07

    def is_ld_imm64(self) -> bool:
        return self.opcode == LD_IMM64

    def is_call(self) -> bool:
        return self.opcode == (JMP | CALL)

    def is_helper_call(self) -> bool:
        return self.opcode == (JMP | CALL) and self.src == 0

    def is_jump(self) -> bool:
        """A jump with a pc-relative target (not call/exit)."""
        c = self.opcode & 7
        if c not in (JMP, JMP32):
            return False
        op = self.opcode & 0xF0
        return op not in (CALL, EXIT)

    def encode(self) -> bytes:
        return encode((self,))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Instruction):
            return NotImplemented
        return (self.opcode, self.dst, self.src, self.off, self.imm) == \
            (other.opcode, other.dst, other.src, other.off, other.imm)

    def __hash__(self) -> int:
        return hash((self.opcode, self.dst, self.src, self.off, self.imm))

    def __repr__(self) -> str:
        return (f"Instruction(opcode={self.opcode:#04x}, dst={self.dst}, src={self.src}, "
                f"off={self.off}, imm={self.imm})")

    def __str__(self) -> str:
        return format_insn(self)


def decode(buf: bytes | bytearray | memoryview) -> list[Instruction]:
    """Decode raw little-endian ``struct bpf_insn`` bytes into Instructions."""
    mv = memoryview(buf).cast("B") if not isinstance(buf, (bytes, bytearray)) else buf
    n = len(mv)
    if n % 8:
        raise AsmError(f"instruction buffer of {n} bytes is not a multiple of 8")
    out: list[Instruction] = []
    append = out.append
    unpack = _INSN.unpack_from
    pos = 0
    while pos < n:
        code, regs, off, imm = unpack(mv, pos)
        if code == LD_IMM64:
            if pos + 16 > n:
                raise AsmError(f"ld_imm64 at instruction {pos // 8} lacks its second slot")
            c2, r2, o2, hi = unpack(mv, pos + 8)
            if c2 or r2 or o2:
                raise AsmError(f"ld_imm64 at instruction {pos // 8} has a malformed "
                               "second slot")
            append(Instruction(code, regs & 0xF, regs >> 4, off,
                               ((hi & _U32) << 32) | (imm & _U32)))
            pos += 16
        else:
            append(Instruction(code, regs & 0xF, regs >> 4, off, imm))
            pos += 8
    return out


def _s32(v: int) -> int:
    v &= _U32
    return v - 0x100000000 if v & 0x80000000 else v


def encode(insns: Iterable[Instruction]) -> bytes:
    """Encode Instructions to raw bytes (ld_imm64 takes two slots)."""
    out = bytearray()
    pack = _INSN.pack
    try:
        for ins in insns:
            regs = (ins.dst & 0xF) | ((ins.src & 0xF) << 4)
            if ins.opcode == LD_IMM64:
                imm = ins.imm & _U64
                out += pack(ins.opcode, regs, ins.off, _s32(imm))
                out += pack(0, 0, 0, _s32(imm >> 32))
            else:
                out += pack(ins.opcode, regs, ins.off, _s32(ins.imm))
    except (_struct.error, TypeError, AttributeError) as e:
        raise AsmError(f"cannot encode instruction {ins!r}: {e}") from None
    return bytes(out)


# ---------------------------------------------------------------- disassembler
_ALU_STR = {ADD: "+=", SUB: "-=", MUL: "*=", DIV: "/=", OR: "|=", AND: "&=", LSH: "<<=",
            RSH: ">>=", NEG: "neg", MOD: "%=", XOR: "^=", MOV: "=", ARSH: "s>>=",
            END: "endian"}
_ALU_SIGN_STR = {DIV: "s/=", MOD: "s%="}
_MOVSX_STR = {8: "(s8)", 16: "(s16)", 32: "(s32)"}
_LDST_STR = {W: "u32", H: "u16", B: "u8", DW: "u64"}
_LDSX_STR = {W: "s32", H: "s16", B: "s8"}
_JMP_STR = {JA: "jmp", JEQ: "==", JGT: ">", JLT: "<", JGE: ">=", JLE: "<=", JSET: "&",
            JNE: "!=", JSGT: "s>", JSLT: "s<", JSGE: "s>=", JSLE: "s<=", CALL: "call",
            EXIT: "exit"}
_ATOMIC_ALU = {ADD: "add", AND: "and", OR: "or", XOR: "xor"}


def _off(v: int) -> str:
    return f"+{v}" if v >= 0 else str(v)


def helper_name(imm: int) -> str | None:
    """``bpf_<name>`` of helper id ``imm``, or None."""
    if 0 <= imm < len(HELPER_NAMES):
        return "bpf_" + HELPER_NAMES[imm]
    return None


def _imm64_text(ins: Instruction) -> str:
    imm = ins.imm & _U64
    lo, hi = imm & _U32, imm >> 32
    s = ins.src
    # bpftool prints map references by id (the kernel puts ids in xlated dumps).
    if s == PSEUDO_MAP_FD:
        return f"map[id:{lo}]"
    if s == PSEUDO_MAP_VALUE:
        return f"map[id:{lo}][0]+{hi}"
    if s == PSEUDO_MAP_IDX_VALUE:
        return f"map[idx:{lo}]+{hi}"
    if s == PSEUDO_MAP_IDX:
        return f"map[idx:{lo}]"
    if s == PSEUDO_FUNC:
        return f"subprog[{_off(_s32(lo))}]"
    if s == PSEUDO_BTF_ID:
        return f"btf_id[{lo}]" if not hi else f"{imm:#x}"
    return f"{imm:#x}"


def format_insn(ins: Instruction,
                call_name: Callable[[Instruction], str | None] | None = None) -> str:
    """One instruction as the kernel verifier / ``bpftool prog dump xlated`` prints it,
    e.g. ``(b7) r0 = 0``. ``call_name(ins)`` may name calls the helper table cannot
    (translated calls, kfuncs)."""
    code = ins.opcode
    cls = code & 7
    op = code & 0xF0
    d, s, off, imm = ins.dst, ins.src, ins.off, ins.imm
    head = f"({code:02x}) "
    if cls in (ALU, ALU64):
        r = "w" if cls == ALU else "r"
        if op == END:
            if cls == ALU64:
                return f"{head}r{d} = bswap{imm} r{d}"
            return f"{head}r{d} = {'be' if code & TO_BE else 'le'}{imm} r{d}"
        if op == NEG:
            return f"{head}{r}{d} = -{r}{d}"
        if op not in _ALU_STR:
            return f"BUG_alu_{code:02x}"
        sign = off == 1 and op in (DIV, MOD)
        ops = _ALU_SIGN_STR[op] if sign else _ALU_STR[op]
        if code & X:
            if cls == ALU64 and op == MOV and off == 1:
                # addr_space_cast (arena pointers); imm holds the two address spaces
                return f"{head}r{d} = addr_space_cast(r{s}, {(imm & _U32) >> 16}, " \
                       f"{imm & 0xFFFF})"
            if cls == ALU64 and op == MOV and off == 0 and imm == 1:
                return f"{head}r{d} = &(void __percpu *)(r{s})"
            sx = _MOVSX_STR.get(off, "") if op == MOV else ""
            return f"{head}{r}{d} {ops} {sx}{r}{s}"
        return f"{head}{r}{d} {ops} {imm}"
    if cls == STX:
        mode = code & 0xE0
        sz = _LDST_STR[code & 0x18]
        if mode == MEM:
            return f"{head}*({sz} *)(r{d} {_off(off)}) = r{s}"
        if mode == ATOMIC:
            a64 = "64" if (code & 0x18) == DW else ""
            if imm in (ADD, AND, OR, XOR):
                return f"{head}lock *({sz} *)(r{d} {_off(off)}) {_ALU_STR[imm]} r{s}"
            if imm & ~0xF0 == FETCH and (imm & 0xF0) in _ATOMIC_ALU:
                return (f"{head}r{s} = atomic{a64}_fetch_{_ATOMIC_ALU[imm & 0xF0]}"
                        f"(({sz} *)(r{d} {_off(off)}), r{s})")
            if imm == CMPXCHG:
                return f"{head}r0 = atomic{a64}_cmpxchg(({sz} *)(r{d} {_off(off)}), r0, r{s})"
            if imm == XCHG:
                return f"{head}r{s} = atomic{a64}_xchg(({sz} *)(r{d} {_off(off)}), r{s})"
            if imm == LOAD_ACQ:
                return f"{head}r{d} = load_acquire(({sz} *)(r{s} {_off(off)}))"
            if imm == STORE_REL:
                return f"{head}store_release(({sz} *)(r{d} {_off(off)}), r{s})"
        return f"BUG_{code:02x}"
    if cls == ST:
        mode = code & 0xE0
        if mode == MEM:
            return f"{head}*({_LDST_STR[code & 0x18]} *)(r{d} {_off(off)}) = {imm}"
        if mode == 0xC0:
            return f"{head}nospec"
        return f"BUG_st_{code:02x}"
    if cls == LDX:
        mode = code & 0xE0
        if mode == MEM:
            sz = _LDST_STR[code & 0x18]
        elif mode == MEMSX and (code & 0x18) in _LDSX_STR:
            sz = _LDSX_STR[code & 0x18]
        else:
            return f"BUG_ldx_{code:02x}"
        return f"{head}r{d} = *({sz} *)(r{s} {_off(off)})"
    if cls == LD:
        mode = code & 0xE0
        sz = _LDST_STR[code & 0x18]
        if mode == ABS:
            return f"{head}r0 = *({sz} *)skb[{imm}]"
        if mode == IND:
            return f"{head}r0 = *({sz} *)skb[r{s} + {imm}]"
        if code == LD_IMM64:
            return f"{head}r{d} = {_imm64_text(ins)}"
        return f"BUG_ld_{code:02x}"
    # JMP / JMP32
    if op == CALL:
        if s == PSEUDO_CALL:
            # before load imm is the pc-relative target; in a translated (xlated) dump of
            # a JITed program the kernel moves it to off and puts the subprog index in imm
            rel = off if off else imm
            name = call_name(ins) if call_name is not None else None
            return f"{head}call pc{_off(rel)}" + (f"#{name}" if name else "")
        name = helper_name(imm) if s == 0 else None
        if name is None and call_name is not None:
            name = call_name(ins)
        if name is None:
            name = "kernel-function" if s == PSEUDO_KFUNC_CALL else "unknown"
        return f"{head}call {name}#{imm}"
    if code == (JMP | JA):
        return f"{head}goto pc{_off(off)}"
    if code == (JMP | JCOND) and s == MAY_GOTO:
        return f"{head}may_goto pc{_off(off)}"
    if code == (JMP32 | JA):
        return f"{head}gotol pc{_off(imm)}"
    if code == (JMP | EXIT):
        return f"{head}exit"
    if op not in _JMP_STR or op in (JA, CALL, EXIT):
        return f"BUG_jmp_{code:02x}"
    r = "w" if cls == JMP32 else "r"
    if code & X:
        return f"{head}if {r}{d} {_JMP_STR[op]} {r}{s} goto pc{_off(off)}"
    return f"{head}if {r}{d} {_JMP_STR[op]} {imm & _U32:#x} goto pc{_off(off)}"


def disasm(buf: bytes | bytearray | memoryview | Sequence[Instruction],
           call_name: Callable[[Instruction], str | None] | None = None) -> list[str]:
    """Disassemble instructions (raw bytes or Instructions) to kernel-style lines, one per
    Instruction (no ``N:`` prefix; see :func:`dump` for numbered output)."""
    insns = decode(buf) if isinstance(buf, (bytes, bytearray, memoryview)) else buf
    return [format_insn(i, call_name) for i in insns]


def dump(buf: bytes | bytearray | memoryview | Sequence[Instruction],
         call_name: Callable[[Instruction], str | None] | None = None) -> str:
    """Numbered listing like ``bpftool prog dump xlated`` (``   0: (b7) r0 = 0``)."""
    insns = decode(buf) if isinstance(buf, (bytes, bytearray, memoryview)) else buf
    lines, pc = [], 0
    for ins in insns:
        lines.append(f"{pc:4d}: {format_insn(ins, call_name)}")
        pc += ins.slots
    return "\n".join(lines)


def kallsyms_call_name(path: str = "/proc/kallsyms") -> Callable[[Instruction], str | None]:
    """A ``call_name`` for translated (xlated) programs: the kernel rewrites helper calls'
    imm to ``helper - __bpf_call_base``; this names them from kallsyms, as bpftool does.
    JITed subprogram calls are left unnamed."""
    table: dict[int, str] = {}
    base = 0
    try:
        with open(path, "rb") as f:
            for line in f:
                parts = line.split()
                if len(parts) < 3 or parts[1] not in (b"T", b"t", b"W", b"w", b"D", b"d"):
                    continue
                addr = int(parts[0], 16)
                name = parts[2].decode()
                if name == "__bpf_call_base":
                    base = addr
                elif not name.startswith("bpf_prog_") and addr not in table:
                    table[addr] = name
    except OSError:
        pass

    def name_of(ins: Instruction) -> str | None:
        if ins.src != 0 or not base:
            return None
        return table.get(base + ins.imm)
    return name_of


# ---------------------------------------------------------------- assembler
class Label:
    """A position in an assembled program; jumps may name it instead of an offset."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"Label({self.name!r})"


def label(name: str) -> Label:
    """Mark the position of the next instruction as ``name``."""
    return Label(name)


class _Ref(Instruction):
    """An instruction whose ``off`` (jumps) or ``imm`` (pseudo calls/funcs) names a label,
    resolved by :func:`assemble`."""

    __slots__ = ("target", "field")

    def __init__(self, opcode: int, dst: int, src: int, off: int, imm: int, target: str,
                 field: str) -> None:
        super().__init__(opcode, dst, src, off, imm)
        self.target = target
        self.field = field


def _reg(r: int, what: str = "register") -> int:
    if not isinstance(r, int) or not 0 <= r <= 10:
        raise AsmError(f"bad {what} {r!r}: expected 0..10")
    return r


def _alu(cls: int, op: int, dst: int, src_or_imm: int, is_reg: bool, off: int = 0) -> Instruction:
    if is_reg:
        return Instruction(cls | op | X, _reg(dst), _reg(src_or_imm), off, 0)
    return Instruction(cls | op | K, _reg(dst), 0, off, src_or_imm)


# ALU builders: <op><64|32>_imm(dst, imm) and <op><64|32>_reg(dst, src)

def add64_imm(dst: int, imm: int) -> Instruction:
    return _alu(ALU64, ADD, dst, imm, False)


def add64_reg(dst: int, src: int) -> Instruction:
    return _alu(ALU64, ADD, dst, src, True)


def add32_imm(dst: int, imm: int) -> Instruction:
    return _alu(ALU, ADD, dst, imm, False)


def add32_reg(dst: int, src: int) -> Instruction:
    return _alu(ALU, ADD, dst, src, True)


def sub64_imm(dst: int, imm: int) -> Instruction:
    return _alu(ALU64, SUB, dst, imm, False)


def sub64_reg(dst: int, src: int) -> Instruction:
    return _alu(ALU64, SUB, dst, src, True)


def sub32_imm(dst: int, imm: int) -> Instruction:
    return _alu(ALU, SUB, dst, imm, False)


def sub32_reg(dst: int, src: int) -> Instruction:
    return _alu(ALU, SUB, dst, src, True)


def mul64_imm(dst: int, imm: int) -> Instruction:
    return _alu(ALU64, MUL, dst, imm, False)


def mul64_reg(dst: int, src: int) -> Instruction:
    return _alu(ALU64, MUL, dst, src, True)


def mul32_imm(dst: int, imm: int) -> Instruction:
    return _alu(ALU, MUL, dst, imm, False)


def mul32_reg(dst: int, src: int) -> Instruction:
    return _alu(ALU, MUL, dst, src, True)


def div64_imm(dst: int, imm: int) -> Instruction:
    return _alu(ALU64, DIV, dst, imm, False)


def div64_reg(dst: int, src: int) -> Instruction:
    return _alu(ALU64, DIV, dst, src, True)


def div32_imm(dst: int, imm: int) -> Instruction:
    return _alu(ALU, DIV, dst, imm, False)


def div32_reg(dst: int, src: int) -> Instruction:
    return _alu(ALU, DIV, dst, src, True)


def or64_imm(dst: int, imm: int) -> Instruction:
    return _alu(ALU64, OR, dst, imm, False)


def or64_reg(dst: int, src: int) -> Instruction:
    return _alu(ALU64, OR, dst, src, True)


def or32_imm(dst: int, imm: int) -> Instruction:
    return _alu(ALU, OR, dst, imm, False)


def or32_reg(dst: int, src: int) -> Instruction:
    return _alu(ALU, OR, dst, src, True)


def and64_imm(dst: int, imm: int) -> Instruction:
    return _alu(ALU64, AND, dst, imm, False)


def and64_reg(dst: int, src: int) -> Instruction:
    return _alu(ALU64, AND, dst, src, True)


def and32_imm(dst: int, imm: int) -> Instruction:
    return _alu(ALU, AND, dst, imm, False)


def and32_reg(dst: int, src: int) -> Instruction:
    return _alu(ALU, AND, dst, src, True)


def lsh64_imm(dst: int, imm: int) -> Instruction:
    return _alu(ALU64, LSH, dst, imm, False)


def lsh64_reg(dst: int, src: int) -> Instruction:
    return _alu(ALU64, LSH, dst, src, True)


def lsh32_imm(dst: int, imm: int) -> Instruction:
    return _alu(ALU, LSH, dst, imm, False)


def lsh32_reg(dst: int, src: int) -> Instruction:
    return _alu(ALU, LSH, dst, src, True)


def rsh64_imm(dst: int, imm: int) -> Instruction:
    return _alu(ALU64, RSH, dst, imm, False)


def rsh64_reg(dst: int, src: int) -> Instruction:
    return _alu(ALU64, RSH, dst, src, True)


def rsh32_imm(dst: int, imm: int) -> Instruction:
    return _alu(ALU, RSH, dst, imm, False)


def rsh32_reg(dst: int, src: int) -> Instruction:
    return _alu(ALU, RSH, dst, src, True)


def mod64_imm(dst: int, imm: int) -> Instruction:
    return _alu(ALU64, MOD, dst, imm, False)


def mod64_reg(dst: int, src: int) -> Instruction:
    return _alu(ALU64, MOD, dst, src, True)


def mod32_imm(dst: int, imm: int) -> Instruction:
    return _alu(ALU, MOD, dst, imm, False)


def mod32_reg(dst: int, src: int) -> Instruction:
    return _alu(ALU, MOD, dst, src, True)


def xor64_imm(dst: int, imm: int) -> Instruction:
    return _alu(ALU64, XOR, dst, imm, False)


def xor64_reg(dst: int, src: int) -> Instruction:
    return _alu(ALU64, XOR, dst, src, True)


def xor32_imm(dst: int, imm: int) -> Instruction:
    return _alu(ALU, XOR, dst, imm, False)


def xor32_reg(dst: int, src: int) -> Instruction:
    return _alu(ALU, XOR, dst, src, True)


def mov64_imm(dst: int, imm: int) -> Instruction:
    return _alu(ALU64, MOV, dst, imm, False)


def mov64_reg(dst: int, src: int) -> Instruction:
    return _alu(ALU64, MOV, dst, src, True)


def mov32_imm(dst: int, imm: int) -> Instruction:
    return _alu(ALU, MOV, dst, imm, False)


def mov32_reg(dst: int, src: int) -> Instruction:
    return _alu(ALU, MOV, dst, src, True)


def arsh64_imm(dst: int, imm: int) -> Instruction:
    return _alu(ALU64, ARSH, dst, imm, False)


def arsh64_reg(dst: int, src: int) -> Instruction:
    return _alu(ALU64, ARSH, dst, src, True)


def arsh32_imm(dst: int, imm: int) -> Instruction:
    return _alu(ALU, ARSH, dst, imm, False)


def arsh32_reg(dst: int, src: int) -> Instruction:
    return _alu(ALU, ARSH, dst, src, True)


def neg64(dst: int) -> Instruction:
    return Instruction(ALU64 | NEG, _reg(dst))


def neg32(dst: int) -> Instruction:
    return Instruction(ALU | NEG, _reg(dst))


def sdiv64_reg(dst: int, src: int) -> Instruction:
    return _alu(ALU64, DIV, dst, src, True, 1)


def sdiv64_imm(dst: int, imm: int) -> Instruction:
    return _alu(ALU64, DIV, dst, imm, False, 1)


def smod64_reg(dst: int, src: int) -> Instruction:
    return _alu(ALU64, MOD, dst, src, True, 1)


def smod64_imm(dst: int, imm: int) -> Instruction:
    return _alu(ALU64, MOD, dst, imm, False, 1)


def movsx64(dst: int, src: int, bits: int) -> Instruction:
    """``dst = (s<bits>)src`` (cpu v4)."""
    if bits not in (8, 16, 32):
        raise AsmError(f"movsx: bits must be 8, 16 or 32, not {bits!r}")
    return Instruction(ALU64 | MOV | X, _reg(dst), _reg(src), bits, 0)


def movsx32(dst: int, src: int, bits: int) -> Instruction:
    if bits not in (8, 16):
        raise AsmError(f"movsx32: bits must be 8 or 16, not {bits!r}")
    return Instruction(ALU | MOV | X, _reg(dst), _reg(src), bits, 0)


def endian(dst: int, bits: int, big: bool) -> Instruction:
    """``dst = be<bits> dst`` / ``le<bits>`` (conversion from host order)."""
    return Instruction(ALU | END | (TO_BE if big else TO_LE), _reg(dst), 0, 0, bits)


def bswap(dst: int, bits: int) -> Instruction:
    """Unconditional byte swap (cpu v4)."""
    return Instruction(ALU64 | END, _reg(dst), 0, 0, bits)


def ld_imm64(dst: int, imm: int, src: int = 0) -> Instruction:
    """``dst = imm`` (64-bit; ``src`` a PSEUDO_* kind)."""
    return Instruction(LD_IMM64, _reg(dst), src, 0, imm & _U64)


def ld_map_fd(dst: int, fd: int) -> Instruction:
    return Instruction(LD_IMM64, _reg(dst), PSEUDO_MAP_FD, 0, int(fd) & _U32)


def ld_map_value(dst: int, fd: int, offset: int = 0) -> Instruction:
    return Instruction(LD_IMM64, _reg(dst), PSEUDO_MAP_VALUE, 0,
                       ((offset & _U32) << 32) | (int(fd) & _U32))


def ld_func(dst: int, target: str | int) -> Instruction:
    """``dst = &subprog``: a callback pointer (bpf_loop, timers)."""
    if isinstance(target, str):
        return _Ref(LD_IMM64, _reg(dst), PSEUDO_FUNC, 0, 0, target, "imm")
    return Instruction(LD_IMM64, _reg(dst), PSEUDO_FUNC, 0, target & _U32)


_SIZES = {1: B, 2: H, 4: W, 8: DW, "b": B, "h": H, "w": W, "dw": DW,
          "u8": B, "u16": H, "u32": W, "u64": DW}


def _size(size: int | str) -> int:
    try:
        return _SIZES[size]
    except (KeyError, TypeError):
        raise AsmError(f"bad access size {size!r}: use 1, 2, 4 or 8") from None


def ldx(size: int | str, dst: int, src: int, off: int = 0) -> Instruction:
    """``dst = *(size *)(src + off)``."""
    return Instruction(LDX | MEM | _size(size), _reg(dst), _reg(src), off)


def ldsx(size: int | str, dst: int, src: int, off: int = 0) -> Instruction:
    """Sign-extending load (cpu v4)."""
    return Instruction(LDX | MEMSX | _size(size), _reg(dst), _reg(src), off)


def stx(size: int | str, dst: int, src: int, off: int = 0) -> Instruction:
    """``*(size *)(dst + off) = src``."""
    return Instruction(STX | MEM | _size(size), _reg(dst), _reg(src), off)


def st(size: int | str, dst: int, off: int, imm: int) -> Instruction:
    """``*(size *)(dst + off) = imm``."""
    return Instruction(ST | MEM | _size(size), _reg(dst), 0, off, imm)


def atomic(size: int | str, op: int, dst: int, src: int, off: int = 0) -> Instruction:
    """Atomic op on ``*(size *)(dst + off)`` (``op``: ADD/AND/OR/XOR [|FETCH], XCHG,
    CMPXCHG)."""
    sz = _size(size)
    if sz not in (W, DW):
        raise AsmError("atomic operations are 32 or 64 bits")
    return Instruction(STX | ATOMIC | sz, _reg(dst), _reg(src), off, op)


def call(helper: int | str) -> Instruction:
    """Call a helper by id or name (``"map_lookup_elem"`` or ``"bpf_map_lookup_elem"``)."""
    if isinstance(helper, str):
        name = helper[4:] if helper.startswith("bpf_") else helper
        try:
            helper = HELPERS[name]
        except KeyError:
            raise AsmError(f"unknown helper {helper!r}") from None
    return Instruction(JMP | CALL, 0, 0, 0, helper)


def call_subprog(target: str | int) -> Instruction:
    """bpf-to-bpf call of a label (or a relative offset)."""
    if isinstance(target, str):
        return _Ref(JMP | CALL, 0, PSEUDO_CALL, 0, 0, target, "imm")
    return Instruction(JMP | CALL, 0, PSEUDO_CALL, 0, target)


def call_kfunc(btf_id: int, btf_fd_idx: int = 0) -> Instruction:
    return Instruction(JMP | CALL, 0, PSEUDO_KFUNC_CALL, btf_fd_idx, btf_id)


def exit_() -> Instruction:
    return Instruction(JMP | EXIT)


def ja(target: str | int) -> Instruction:
    """``goto target`` (a label or a relative offset)."""
    if isinstance(target, str):
        return _Ref(JMP | JA, 0, 0, 0, 0, target, "off")
    return Instruction(JMP | JA, 0, 0, target)


_JMP_NAMES = {"jeq": JEQ, "jgt": JGT, "jge": JGE, "jset": JSET, "jne": JNE, "jsgt": JSGT,
              "jsge": JSGE, "jlt": JLT, "jle": JLE, "jslt": JSLT, "jsle": JSLE}
_JMP_OPS = {"==": JEQ, "!=": JNE, ">": JGT, ">=": JGE, "<": JLT, "<=": JLE, "&": JSET,
            "s>": JSGT, "s>=": JSGE, "s<": JSLT, "s<=": JSLE}


def jmp(op: str | int, dst: int, src_or_imm: int, target: str | int, *, reg: bool = False,
        wide: bool = True) -> Instruction:
    """Conditional jump: ``if dst <op> src_or_imm goto target``. ``op`` is an opcode
    constant, a name (``"jeq"``) or C-ish text (``"=="``, ``"s<"``); ``reg=True`` compares
    with register ``src_or_imm``; ``wide=False`` makes it a 32-bit (JMP32) compare."""
    if isinstance(op, str):
        o = _JMP_NAMES.get(op, _JMP_OPS.get(op))
        if o is None:
            raise AsmError(f"unknown jump operation {op!r}")
        op = o
    code = (JMP if wide else JMP32) | op | (X if reg else K)
    src, imm = (_reg(src_or_imm), 0) if reg else (0, src_or_imm)
    if isinstance(target, str):
        return _Ref(code, _reg(dst), src, 0, imm, target, "off")
    return Instruction(code, _reg(dst), src, target, imm)


Item = Instruction | Label | str


def assemble(items: Iterable[Item]) -> bytes:
    """Encode a program given as Instructions and labels (``Label`` or a plain ``str``
    naming the position of the next instruction), resolving jump targets."""
    pos: dict[str, int] = {}
    seq: list[tuple[int, Instruction]] = []
    pc = 0
    for it in items:
        if isinstance(it, str):
            it = Label(it)
        if isinstance(it, Label):
            if it.name in pos:
                raise AsmError(f"label {it.name!r} defined twice")
            pos[it.name] = pc
            continue
        if not isinstance(it, Instruction):
            raise AsmError(f"not an instruction or label: {it!r}")
        seq.append((pc, it))
        pc += it.slots
    out: list[Instruction] = []
    for at, ins in seq:
        if isinstance(ins, _Ref):
            if ins.target not in pos:
                raise AsmError(f"unknown label {ins.target!r}")
            rel = pos[ins.target] - at - 1
            if ins.field == "off":
                if not -32768 <= rel <= 32767:
                    raise AsmError(f"jump to {ins.target!r} too far ({rel})")
                ins = Instruction(ins.opcode, ins.dst, ins.src, rel, ins.imm)
            else:
                ins = Instruction(ins.opcode, ins.dst, ins.src, ins.off, rel & _U32 if
                                  ins.opcode == LD_IMM64 else rel)
        out.append(ins)
    return encode(out)


# ---------------------------------------------------------------- text -> instructions
_RE_CACHE: list | None = None
_R = r"([rw])(\d+)"
_SZ_BY_NAME = {"u8": B, "u16": H, "u32": W, "u64": DW, "s8": B, "s16": H, "s32": W}
_ALU_BY_STR = {v: k for k, v in _ALU_STR.items() if k not in (NEG, END)}
_JMP_BY_STR = {v: k for k, v in _JMP_STR.items() if k not in (JA, CALL, EXIT)}


def _int(s: str) -> int:
    return int(s, 0)


def _patterns() -> list:
    global _RE_CACHE
    if _RE_CACHE is None:
        import re
        mem = r"\((u8|u16|u32|u64|s8|s16|s32) \*\)\(r(\d+) ([+-]\d+)\)"
        _RE_CACHE = [(name, re.compile(p + r"$")) for name, p in (
            ("exit", r"exit"),
            ("nospec", r"nospec"),
            ("goto", r"(goto|gotol|may_goto) pc([+-]\d+)"),
            ("callpc", r"call pc([+-]\d+)(?:#.*)?"),
            ("call", r"call (\S+?)#(-?\d+)"),
            ("jmp", rf"if {_R} (\S+) (?:{_R}|(0x[0-9a-f]+|-?\d+)) goto pc([+-]\d+)"),
            ("bswap", r"r(\d+) = (bswap|be|le)(-?\d+) r(\d+)"),
            ("neg", rf"{_R} = -{_R}"),
            ("addrcast", r"r(\d+) = addr_space_cast\(r(\d+), (\d+), (\d+)\)"),
            ("percpu", r"r(\d+) = &\(void __percpu \*\)\(r(\d+)\)"),
            ("ldimm", r"r(\d+) = (map\[(id|idx):(\d+)\](?:\[0\])?(?:\+(\d+))?|subprog\[([+-]\d+)\]"
                      r"|btf_id\[(\d+)\]|0x[0-9a-f]+)"),
            ("st", rf"\*{mem} = (-?\d+)"),
            ("stx", rf"\*{mem} = r(\d+)"),
            ("lock", rf"lock \*{mem} (\S+) r(\d+)"),
            ("fetch", rf"r(\d+) = atomic(64)?_fetch_(add|and|or|xor)\({mem}, r(\d+)\)"),
            ("cmpxchg", rf"r0 = atomic(64)?_cmpxchg\({mem}, r0, r(\d+)\)"),
            ("xchg", rf"r(\d+) = atomic(64)?_xchg\({mem}, r(\d+)\)"),
            ("ldacq", rf"r(\d+) = load_acquire\({mem}\)"),
            ("strel", rf"store_release\({mem}, r(\d+)\)"),
            ("ldx", rf"r(\d+) = \*{mem}"),
            ("ldabs", r"r0 = \*\((u8|u16|u32|u64) \*\)skb\[(-?\d+)\]"),
            ("ldind", r"r0 = \*\((u8|u16|u32|u64) \*\)skb\[r(\d+) \+ (-?\d+)\]"),
            ("alux", rf"{_R} (\S+) (\(s\d+\))?{_R}"),
            ("aluk", rf"{_R} (\S+) (-?\d+)"),
        )]
    return _RE_CACHE


def _alu_op(w: str, op: str, body: str) -> tuple[int, int, int]:
    """(class, operation, off) of an ALU operator as printed: ``w`` registers are 32-bit,
    ``s/=`` / ``s%=`` are the signed forms (off = 1)."""
    off = 0
    if op in ("s/=", "s%="):
        op, off = op[1:], 1
    if op not in _ALU_BY_STR:
        raise AsmError(f"unknown ALU operator in {body!r}")
    return (ALU if w == "w" else ALU64), _ALU_BY_STR[op], off


def parse_insn(line: str) -> Instruction:
    """One instruction from the kernel/bpftool text form (``(b7) r0 = 0``; the ``(xx)``
    and ``N:`` prefixes are optional)."""
    text = line.strip()
    import re
    m0 = re.match(r"^(?:\d+:\s*)?(?:\(([0-9a-f]{2})\)\s*)?(.*?)\s*(?:;.*)?$", text)
    code_hint = int(m0.group(1), 16) if m0 and m0.group(1) else None
    body = m0.group(2) if m0 else text
    for name, rx in _patterns():
        m = rx.match(body)
        if m:
            ins = _from_match(name, m.groups(), body)
            if code_hint is not None and ins.opcode != code_hint:
                # the prefix wins where the text cannot tell (e.g. a call or exit in the
                # JMP32 class), as long as it prints back as the same text
                alt = Instruction(code_hint, ins.dst, ins.src, ins.off, ins.imm)
                if format_insn(alt) != f"({code_hint:02x}) {body}":
                    raise AsmError(f"{line!r}: text says opcode {ins.opcode:#04x}, prefix "
                                   f"says {code_hint:#04x}")
                ins = alt
            return ins
    raise AsmError(f"cannot parse instruction {line!r}")


def _from_match(name: str, g: tuple, body: str) -> Instruction:
    if name == "exit":
        return exit_()
    if name == "nospec":
        return Instruction(ST | 0xC0)
    if name == "goto":
        kind, off = g[0], _int(g[1])
        if kind == "goto":
            return Instruction(JMP | JA, 0, 0, off)
        if kind == "gotol":
            return Instruction(JMP32 | JA, 0, 0, 0, off)
        return Instruction(JMP | JCOND, 0, MAY_GOTO, off)
    if name == "callpc":
        return Instruction(JMP | CALL, 0, PSEUDO_CALL, 0, _int(g[0]))
    if name == "call":
        fn, imm = g[0], int(g[1])
        if fn == "kernel-function":
            return Instruction(JMP | CALL, 0, PSEUDO_KFUNC_CALL, 0, imm)
        return Instruction(JMP | CALL, 0, 0, 0, imm)
    if name == "jmp":
        w, d, op, sw, s, k, off = g
        if op not in _JMP_BY_STR:
            raise AsmError(f"unknown jump operator in {body!r}")
        cls = JMP32 if w == "w" else JMP
        if s is not None:
            return Instruction(cls | _JMP_BY_STR[op] | X, int(d), int(s), _int(off))
        imm = _int(k)
        return Instruction(cls | _JMP_BY_STR[op] | K, int(d), 0, _int(off), _s32(imm))
    if name == "bswap":
        d, kind, bits, d2 = g
        if kind == "bswap":
            return Instruction(ALU64 | END, int(d), 0, 0, int(bits))
        return Instruction(ALU | END | (TO_BE if kind == "be" else TO_LE), int(d), 0, 0,
                           int(bits))
    if name == "neg":
        return Instruction((ALU if g[0] == "w" else ALU64) | NEG, int(g[1]))
    if name == "addrcast":   # arena pointer cast: off 1, imm = dst space << 16 | src space
        d, sreg, to_as, from_as = map(int, g)
        if to_as > 0xFFFF or from_as > 0xFFFF:
            raise AsmError(f"address space out of range in {body!r}")
        return Instruction(ALU64 | MOV | X, d, sreg, 1, _s32((to_as << 16) | from_as))
    if name == "percpu":     # per-CPU address of a per-CPU pointer (inlined by the kernel)
        return Instruction(ALU64 | MOV | X, int(g[0]), int(g[1]), 0, 1)
    if name == "ldimm":
        d, whole, kind, num, plus, sub, btf = g
        d = int(d)
        if sub is not None:
            return Instruction(LD_IMM64, d, PSEUDO_FUNC, 0, _int(sub) & _U32)
        if btf is not None:
            return Instruction(LD_IMM64, d, PSEUDO_BTF_ID, 0, int(btf))
        if kind is not None:
            n = int(num)
            if kind == "id":
                if plus is None:
                    return Instruction(LD_IMM64, d, PSEUDO_MAP_FD, 0, n)
                return Instruction(LD_IMM64, d, PSEUDO_MAP_VALUE, 0, (int(plus) << 32) | n)
            if plus is None:
                return Instruction(LD_IMM64, d, PSEUDO_MAP_IDX, 0, n)
            return Instruction(LD_IMM64, d, PSEUDO_MAP_IDX_VALUE, 0, (int(plus) << 32) | n)
        return Instruction(LD_IMM64, d, 0, 0, int(whole, 16))
    if name in ("st", "stx"):
        sz, d, off, v = g
        if name == "st":
            return Instruction(ST | MEM | _SZ_BY_NAME[sz], int(d), 0, int(off), int(v))
        return Instruction(STX | MEM | _SZ_BY_NAME[sz], int(d), int(v), int(off))
    if name == "lock":
        sz, d, off, op, s = g
        ops = {"+=": ADD, "&=": AND, "|=": OR, "^=": XOR}
        if op not in ops:
            raise AsmError(f"unknown atomic operator in {body!r}")
        return Instruction(STX | ATOMIC | _SZ_BY_NAME[sz], int(d), int(s), int(off), ops[op])
    if name == "fetch":
        s, _, op, sz, d, off, s2 = g
        return Instruction(STX | ATOMIC | _SZ_BY_NAME[sz], int(d), int(s), int(off),
                           {"add": ADD, "and": AND, "or": OR, "xor": XOR}[op] | FETCH)
    if name == "cmpxchg":
        _, sz, d, off, s = g
        return Instruction(STX | ATOMIC | _SZ_BY_NAME[sz], int(d), int(s), int(off), CMPXCHG)
    if name == "xchg":
        s, _, sz, d, off, s2 = g
        return Instruction(STX | ATOMIC | _SZ_BY_NAME[sz], int(d), int(s), int(off), XCHG)
    if name == "ldacq":
        d, sz, s, off = g
        return Instruction(STX | ATOMIC | _SZ_BY_NAME[sz], int(d), int(s), int(off), LOAD_ACQ)
    if name == "strel":
        sz, d, off, s = g
        return Instruction(STX | ATOMIC | _SZ_BY_NAME[sz], int(d), int(s), int(off), STORE_REL)
    if name == "ldx":
        d, sz, s, off = g
        mode = MEMSX if sz.startswith("s") else MEM
        return Instruction(LDX | mode | _SZ_BY_NAME[sz], int(d), int(s), int(off))
    if name == "ldabs":
        return Instruction(LD | ABS | _SZ_BY_NAME[g[0]], 0, 0, 0, int(g[1]))
    if name == "ldind":
        return Instruction(LD | IND | _SZ_BY_NAME[g[0]], 0, int(g[1]), 0, int(g[2]))
    if name == "alux":
        w, d, op, sx, w2, s = g
        cls, code, off = _alu_op(w, op, body)
        if sx:
            if op != "=":
                raise AsmError(f"sign extension only with '=' in {body!r}")
            off = int(sx[2:-1])
        return Instruction(cls | code | X, int(d), int(s), off)
    if name == "aluk":
        w, d, op, k = g
        cls, code, off = _alu_op(w, op, body)
        return Instruction(cls | code | K, int(d), 0, off, int(k))
    raise AsmError(f"cannot parse instruction {body!r}")  # pragma: no cover


def parse(text: str) -> list[Instruction]:
    """Instructions from a listing (``bpftool prog dump xlated`` / verifier style): one per
    line; blank lines, ``;`` source comments and function headers are skipped."""
    out = []
    for line in text.splitlines():
        s = line.strip()
        if not s or s.startswith(";") or s.endswith(":"):
            continue   # blank, source line, or a function header ("int emit(...):")
        out.append(parse_insn(s))
    return out
