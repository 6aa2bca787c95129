"""``make demo`` / ``python -m corebpf.demo``: corebpf end to end, in under two minutes.

1. builds the example programs with ``corebpf build`` (clang + a vmlinux.h from this kernel),
2. streams exec events from the CO-RE exec tracer while it starts processes,
3. counts pings over a veth pair into a new network namespace with the seed's XDP
   ``pkt_count`` map,
4. shows a run-queue latency histogram,
then cleans up (namespace, links, maps) and exits 0.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
TYPE_CHECKING = False  # typing costs ≈3 ms of start-up; checkers take this as True
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any

EXAMPLES = ("execsnoop", "pktcount", "runqlat")
TOOLS_DIR = Path(__file__).resolve().parent / "tools"


def say(text: str = "") -> None:
    print(text, flush=True)


def heading(n: int, text: str) -> None:
    say()
    say(f"== {n}. {text} " + "=" * max(0, 70 - len(text)))


def check_environment() -> None:
    from .errors import Error
    if os.geteuid() != 0:
        raise Error("the demo loads BPF programs: run it as root (sudo make demo)")


def build_examples(out_dir: Path) -> dict[str, Path]:
    """Compile the examples; fall back to the prebuilt objects if no compiler is here."""
    from .cli.build import BuildError, build
    objs = {}
    t0 = time.monotonic()
    try:
        for name in EXAMPLES:
            src = TOOLS_DIR / f"{name}.bpf.c"
            objs[name] = build(src, out_dir / f"{name}.bpf.o", includes=(str(TOOLS_DIR),))
            say(f"  built {src.name:<18} -> {objs[name]}")
        say(f"  ({time.monotonic() - t0:.1f} s; vmlinux.h generated from this kernel's BTF "
            "by corebpf and cached)")
    except BuildError as e:
        say(f"  cannot build here ({e});")
        say("  using the prebuilt CO-RE objects shipped with corebpf instead")
        objs = {name: TOOLS_DIR / f"{name}.bpf.o" for name in EXAMPLES}
    return objs


def _spawn_processes(stop: threading.Event) -> None:
    cmds = [["echo", "hello from corebpf"], ["uname", "-r"], ["ls", "/"],
            ["true", "--demo"], ["sh", "-c", "exit 3"], ["date", "+%T"]]
    # full paths: a PATH search would show up as failed execve()s
    cmds = [[shutil.which(c[0]) or c[0], *c[1:]] for c in cmds]
    time.sleep(0.5)
    for c in cmds * 2:
        if stop.is_set():
            return
        subprocess.run(c, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.25)


def exec_events(obj_path: Path, seconds: float = 4.0) -> int:
    """Stream exec events while a helper thread starts processes; returns the count seen."""
    import corebpf
    from .tools.execsnoop import decode
    from .tools._common import raw

    seen = 0
    mine = 0
    with corebpf.load(obj_path) as obj:
        obj.attach_all()
        say(f"  loaded {obj_path.name} (parents read with BPF_CORE_READ(task, real_parent, "
            "tgid));")
        say("  what `corebpf prog show` says about its programs:")
        from .cli.prog import format_prog, prog_record
        for prog in obj.programs.values():
            for line in format_prog(prog_record(prog, with_owners=False))[:3]:
                say("    " + line.replace("\t", "  "))
        say(f"  {'PCOMM':<16} {'PID':>7} {'PPID':>7} {'RET':>4} ARGS")
        stop = threading.Event()
        th = threading.Thread(target=_spawn_processes, args=(stop,), daemon=True)
        th.start()
        end = time.monotonic() + seconds
        with obj.ring_buffer("events") as rb:
            while time.monotonic() < end:
                for rec in rb.poll(timeout=min(0.25, max(0.0, end - time.monotonic()))):
                    ev = decode(raw(rec))
                    seen += 1
                    if ev["ppid"] != os.getpid():
                        continue  # the rest of the system: counted, not shown
                    mine += 1
                    say(f"  {ev['comm']:<16} {ev['pid']:>7} {ev['ppid']:>7} "
                        f"{ev['ret']:>4} {' '.join(ev['args'])[:60]}")
        stop.set()
        th.join()
    say(f"  {mine} exec events from the processes the demo started "
        f"({seen - mine} more from the rest of the system)")
    return mine


class Netns:
    """A network namespace with a veth pair: host side ``host`` (10.199.0.1) and
    ``peer`` (10.199.0.2) inside the namespace. Removed on exit."""

    def __init__(self) -> None:
        tag = f"{os.getpid() % 100000}"
        self.ns, self.host, self.peer = f"cbdemo{tag}", f"cbd{tag}a", f"cbd{tag}b"

    def __enter__(self) -> "Netns":
        cmds = [["ip", "netns", "add", self.ns],
                ["ip", "link", "add", self.host, "type", "veth", "peer", "name", self.peer],
                ["ip", "link", "set", self.peer, "netns", self.ns],
                ["ip", "addr", "add", "10.199.0.1/24", "dev", self.host],
                ["ip", "link", "set", self.host, "up"],
                ["ip", "-n", self.ns, "addr", "add", "10.199.0.2/24", "dev", self.peer],
                ["ip", "-n", self.ns, "link", "set", self.peer, "up"],
                ["ip", "-n", self.ns, "link", "set", "lo", "up"]]
        try:
            for c in cmds:
                r = subprocess.run(c, capture_output=True, text=True)
                if r.returncode:
                    from .errors import Error
                    raise Error(f"demo: `{' '.join(c)}` failed: {r.stderr.strip()}")
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        subprocess.run(["ip", "link", "del", self.host], capture_output=True)
        subprocess.run(["ip", "netns", "del", self.ns], capture_output=True)

    def ping(self, count: int, addr: str = "10.199.0.1") -> subprocess.CompletedProcess:
        # nsenter, not `ip netns exec`: the latter remounts /sys (see shared/README.md)
        return subprocess.run(["nsenter", f"--net=/var/run/netns/{self.ns}", "ping", "-c",
                               str(count), "-i", "0.2", "-W", "1", addr],
                              capture_output=True, text=True)


def xdp_counter(obj_path: Path, pings: int = 10) -> int:
    """Attach the XDP counter to a veth, ping it from a namespace, return the count."""
    import corebpf
    with Netns() as net, corebpf.load(obj_path) as obj:
        say(f"  namespace {net.ns}: {net.peer} 10.199.0.2  <-veth->  {net.host} 10.199.0.1")
        prog = obj.programs["count_packets"]
        counter = obj.maps["pkt_count"]
        with prog.attach(iface=net.host):
            say(f"  XDP program {prog.name if hasattr(prog, 'name') else 'count_packets'} "
                f"attached to {net.host}; pinging {pings} times from the namespace")
            result: dict[str, Any] = {}
            th = threading.Thread(target=lambda: result.update(r=net.ping(pings)), daemon=True)
            th.start()
            last = -1
            while th.is_alive():
                th.join(0.5)
                n = _count(counter[0])
                if n != last:
                    say(f"  pkt_count[0] = {n}")
                    last = n
            n = _count(counter[0])
            ok = result["r"].returncode == 0
            say(f"  ping: {'all replies received' if ok else result['r'].stdout[-200:]}")
            say(f"  pkt_count[0] = {n} packets seen by XDP ({pings} echo requests + ARP)")
    say("  detached; namespace and veth removed")
    return n


def _count(v: Any) -> int:
    if isinstance(v, (bytes, bytearray, memoryview)):
        return int.from_bytes(bytes(v), "little")
    if isinstance(v, (list, tuple)):
        return sum(_count(x) for x in v)
    return int(v)


def latency_histogram(obj_path: Path, seconds: float = 3.0) -> list[int]:
    """Run-queue latency for a few seconds while threads sleep and wake; print it."""
    from . import viz
    from .tools._common import hist_buckets
    from .tools._hist import load_flavour

    def wakeups(stop: threading.Event) -> None:
        while not stop.is_set():
            time.sleep(0.0005)

    with load_flavour(obj_path) as (obj, flavour):
        say(f"  {flavour}/sched_wakeup + sched_switch for {seconds:.0f} s "
            "(with 4 threads sleeping and waking)...")
        stop = threading.Event()
        ths = [threading.Thread(target=wakeups, args=(stop,), daemon=True) for _ in range(4)]
        for t in ths:
            t.start()
        time.sleep(seconds)
        stop.set()
        for t in ths:
            t.join()
        buckets = hist_buckets(obj.maps["hist"])
    if sys.stdout.isatty():
        try:  # coloured bars in a terminal, when rich is installed
            from rich.console import Console
            Console().print(viz.rich_histogram(buckets, "usecs", title="run-queue latency"))
            return buckets
        except ImportError:
            pass
    for line in viz.log2_histogram_lines(buckets, "usecs"):
        say("  " + line)
    return buckets


def main(argv: list[str] | None = None) -> int:
    from .errors import Error
    p = argparse.ArgumentParser(prog="python -m corebpf.demo", description=__doc__)
    p.add_argument("--prebuilt", action="store_true",
                   help="use the prebuilt objects instead of compiling the examples")
    args = p.parse_args(argv)
    t0 = time.monotonic()

    try:
        check_environment()
        say("corebpf demo: pure-Python eBPF (no libbpf.so, no BCC, no compiler at run time)")
        with tempfile.TemporaryDirectory(prefix="corebpf-demo-") as tmp:
            heading(1, "build the examples (corebpf build: clang + our vmlinux.h)")
            if args.prebuilt or not shutil.which("clang"):
                objs = {name: TOOLS_DIR / f"{name}.bpf.o" for name in EXAMPLES}
                say("  using the prebuilt CO-RE objects")
            else:
                objs = build_examples(Path(tmp))
            heading(2, "exec events from the CO-RE tracer (tracepoints + ring buffer)")
            n_exec = exec_events(objs["execsnoop"])
            heading(3, "the seed's XDP pkt_count, counting pings over a veth pair")
            n_pkt = xdp_counter(objs["pktcount"])
            heading(4, "run-queue latency histogram (tp_btf or raw_tp + a log2 array map)")
            buckets = latency_histogram(objs["runqlat"])

        say()
        problems = []
        if n_exec == 0:
            problems.append("no exec events from the demo's own processes")
        if n_pkt < 10:
            problems.append(f"XDP counted {n_pkt} packets, expected at least 10")
        if sum(buckets) == 0:
            problems.append("the latency histogram stayed empty")
        if problems:
            say("demo finished with problems: " + "; ".join(problems))
            return 1
        say(f"demo done in {time.monotonic() - t0:.1f} s: {n_exec} exec events, {n_pkt} "
            f"packets counted, {sum(buckets)} latencies; everything cleaned up.")
        return 0
    except Error as e:
        print(f"corebpf demo: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
