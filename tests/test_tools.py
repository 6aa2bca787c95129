"""The ready-made tools: prebuilt objects match their sources, and each tool, run for a few
seconds as a user runs it, reports activity the test generates."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

import corebpf
from corebpf.tools import TOOLS
from corebpf.tools._common import READY

PY = sys.executable
TOOLS_DIR = Path(corebpf.__file__).parent / "tools"


# --- prebuilt objects ------------------------------------------------------------------------

def _shape(path: Path) -> dict:
    spec = corebpf.ObjectSpec.from_file(str(path))
    return {
        "programs": {n: (p.section, p.type) for n, p in spec.programs.items()},
        "maps": {n: (m.type, m.key_size, m.value_size, m.max_entries)
                 for n, m in spec.maps.items()},
        "variables": sorted(spec.variables),
    }


@pytest.mark.parametrize("tool", list(TOOLS))
def test_prebuilt_object_matches_source(tool, tmp_path):
    """Rebuilding <tool>.bpf.c gives the programs and maps of the shipped <tool>.bpf.o."""
    from conftest import vmlinux_h
    from corebpf.cli.build import build
    shipped = TOOLS_DIR / f"{tool}.bpf.o"
    assert shipped.exists(), f"{shipped} missing: run python -m corebpf.tools._build"
    fresh = build(TOOLS_DIR / f"{tool}.bpf.c", tmp_path / f"{tool}.bpf.o", vmlinux=vmlinux_h(),
                  includes=(str(TOOLS_DIR),), strip=True)
    assert _shape(fresh) == _shape(shipped)


@pytest.mark.parametrize("tool", list(TOOLS))
def test_front_end_has_main(tool):
    import importlib
    mod = importlib.import_module(f"corebpf.tools.{tool}")
    assert callable(mod.main)
    with pytest.raises(SystemExit) as e:
        mod.main(["--help"])
    assert e.value.code == 0


# --- running the tools -----------------------------------------------------------------------

class Tool:
    """A tool running in a subprocess; ``wait_ready`` returns once it has attached."""

    def __init__(self, *argv: str) -> None:
        self.p = subprocess.Popen([PY, "-m", *argv], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
        self.err = ""

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.p.stderr.readline()
            if not line:
                break
            self.err += line
            if READY in line:
                return
        self.p.kill()
        out, err = self.p.communicate()
        raise AssertionError(f"tool did not start: {self.err}{err}\n{out}")

    def finish(self, timeout: float = 60.0) -> str:
        out, err = self.p.communicate(timeout=timeout)
        self.err += err
        assert self.p.returncode == 0, self.err
        return out

    def kill(self) -> None:
        if self.p.poll() is None:
            self.p.kill()
            self.p.communicate()


@pytest.fixture
def run_tool():
    started: list[Tool] = []

    def start(*argv: str) -> Tool:
        t = Tool(*argv)
        started.append(t)
        t.wait_ready()
        return t
    yield start
    for t in started:
        t.kill()


def _json_lines(text: str) -> list[dict]:
    return [json.loads(ln) for ln in text.splitlines() if ln.startswith("{")]


@pytest.mark.kernel
def test_execsnoop(run_tool, tmp_path):
    t = run_tool("corebpf.tools.execsnoop", "--json", "-d", "3")
    marker = f"h_exec_marker_{os.getpid()}"
    p = subprocess.run(["/bin/true", marker, "second-arg"])
    # a process whose execve() fails with ENOENT
    subprocess.run([PY, "-c", f"import os\ntry: os.execv('/nonexistent/{marker}', "
                    f"['{marker}'])\nexcept OSError: pass"], check=True)
    evs = _json_lines(t.finish())
    mine = [e for e in evs if marker in " ".join(e["args"])]
    ok = [e for e in mine if e["args"][:1] == ["/bin/true"]]
    assert ok, evs[-20:]
    assert ok[0]["args"] == ["/bin/true", marker, "second-arg"]
    assert ok[0]["ret"] == 0 and ok[0]["ppid"] == os.getpid()  # parent read through CO-RE
    assert ok[0]["comm"] == "true"
    failed = [e for e in mine if e["ret"] < 0]
    assert failed and failed[0]["ret"] == -2  # ENOENT
    assert p.returncode == 0


@pytest.mark.kernel
def test_execsnoop_human(run_tool):
    t = run_tool("corebpf.tools.execsnoop", "-d", "2")
    subprocess.run(["/bin/true", "h_human_marker"])
    out = t.finish()
    assert out.splitlines()[0].split() == ["PCOMM", "PID", "PPID", "RET", "ARGS"]
    line = next(ln for ln in out.splitlines() if "h_human_marker" in ln)
    assert line.split()[0] == "true" and line.endswith("/bin/true h_human_marker")


@pytest.mark.kernel
def test_opensnoop(run_tool, tmp_path):
    f = tmp_path / "h_open_target.txt"
    f.write_text("x")
    t = run_tool("corebpf.tools.opensnoop", "--json", "-d", "3", "--name", "h_open_")
    with open(f):
        pass
    try:
        open(tmp_path / "h_open_missing")
    except FileNotFoundError:
        pass
    evs = _json_lines(t.finish())
    mine = [e for e in evs if e["pid"] == os.getpid()]
    ok = [e for e in mine if e["path"] == str(f)]
    assert ok and ok[0]["ret"] >= 0, evs
    miss = [e for e in mine if e["path"].endswith("h_open_missing")]
    assert miss and miss[0]["ret"] == -2 and miss[0]["errno"] == "ENOENT"


@pytest.mark.kernel
def test_exitsnoop(run_tool):
    t = run_tool("corebpf.tools.exitsnoop", "--json", "-d", "3")
    p = subprocess.Popen(["sh", "-c", "sleep 0.2; exit 7"])
    p.wait()
    k = subprocess.Popen(["sleep", "30"])
    time.sleep(0.1)
    k.kill()
    k.wait()
    evs = _json_lines(t.finish())
    e = next(e for e in evs if e["pid"] == p.pid)
    assert e["exit_code"] == 7 and e["signal"] == 0 and e["comm"] == "sh"
    assert e["ppid"] == os.getpid() and 0.15 < e["age_s"] < 5
    e = next(e for e in evs if e["pid"] == k.pid)
    assert e["signal"] == 9


@pytest.mark.kernel
def test_runqlat(run_tool):
    t = run_tool("corebpf.tools.runqlat", "--json", "-d", "2")
    # sleeps and wake-ups: every wake-up is one run-queue wait
    subprocess.run([PY, "-c", "import time\nfor _ in range(200): time.sleep(0.001)"])
    evs = _json_lines(t.finish())
    assert len(evs) == 1 and evs[0]["unit"] == "usecs"
    assert sum(evs[0]["buckets"]) >= 200


@pytest.mark.kernel
@pytest.mark.parametrize("hook", ["tp_btf", "raw_tp"])
def test_runqlat_flavours(run_tool, hook):
    """tp_btf programs or their raw_tp twins (what kernels without tp_btf get)."""
    t = run_tool("corebpf.tools.runqlat", "--json", "-d", "1", "--hook", hook)
    assert f"{hook})" in t.err
    subprocess.run([PY, "-c", "import time\nfor _ in range(100): time.sleep(0.001)"])
    evs = _json_lines(t.finish())
    assert sum(evs[0]["buckets"]) >= 100


@pytest.mark.kernel
def test_runqlat_text(run_tool):
    t = run_tool("corebpf.tools.runqlat", "-d", "1")
    out = t.finish()
    assert "usecs" in out and "distribution" in out and "|" in out


@pytest.mark.kernel
def test_biolatency(run_tool):
    build = Path(__file__).parent / ".build"
    build.mkdir(exist_ok=True)
    target = build / f"h_bio_{os.getpid()}.tmp"
    t = run_tool("corebpf.tools.biolatency", "--json", "-d", "3")
    try:
        # O_DIRECT writes reach the block layer at once, bypassing the page cache
        subprocess.run(["dd", "if=/dev/zero", f"of={target}", "bs=64k", "count=32",
                        "oflag=direct"], check=True, capture_output=True)
    finally:
        target.unlink(missing_ok=True)
    evs = _json_lines(t.finish())
    assert sum(evs[0]["buckets"]) >= 32


@pytest.mark.kernel
def test_biolatency_raw_tp(run_tool):
    build = Path(__file__).parent / ".build"
    build.mkdir(exist_ok=True)
    target = build / f"h_bio_raw_{os.getpid()}.tmp"
    t = run_tool("corebpf.tools.biolatency", "--json", "-d", "2", "--hook", "raw_tp")
    try:
        subprocess.run(["dd", "if=/dev/zero", f"of={target}", "bs=64k", "count=16",
                        "oflag=direct"], check=True, capture_output=True)
    finally:
        target.unlink(missing_ok=True)
    assert sum(_json_lines(t.finish())[0]["buckets"]) >= 16


def test_plot_checked_before_tracing():
    r = subprocess.run([PY, "-m", "corebpf.tools.runqlat", "-d", "1", "--plot", "x.txt"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and ".png, .svg" in r.stderr
    assert READY not in r.stderr


@pytest.mark.kernel
def test_syscount(run_tool):
    t = run_tool("corebpf.tools.syscount", "--json", "-d", "2", "-n", "50")
    subprocess.run([PY, "-c", "import os\nfor _ in range(3000): os.getppid()"])
    evs = _json_lines(t.finish())
    assert evs[0]["syscalls"].get("getppid", 0) >= 3000
    assert evs[0]["processes"].get("python", 0) >= 3000 or \
        max(evs[0]["processes"].values()) >= 3000


@pytest.mark.kernel
def test_syscount_human(run_tool):
    t = run_tool("corebpf.tools.syscount", "-d", "1", "-n", "5")
    out = t.finish()
    assert out.splitlines()[0].split() == ["SYSCALL", "COUNT"]
    assert "COMM" in out


def _tcp_session(nbytes: int) -> tuple[int, int]:
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen()
    port = srv.getsockname()[1]
    c = socket.create_connection(("127.0.0.1", port))
    a, _ = srv.accept()
    c.sendall(b"x" * nbytes)
    got = 0
    while got < nbytes:
        got += len(a.recv(65536))
    lport = c.getsockname()[1]
    c.close()
    a.close()
    srv.close()
    return port, lport


@pytest.mark.kernel
def test_tcpconnect(run_tool):
    t = run_tool("corebpf.tools.tcpconnect", "--json", "-d", "2")
    port, _ = _tcp_session(10)
    evs = _json_lines(t.finish())
    e = next(e for e in evs if e["dport"] == port)
    assert e["pid"] == os.getpid() and e["daddr"] == "127.0.0.1" and e["family"] == 2


@pytest.mark.kernel
def test_tcpconnect_ipv6(run_tool):
    if not socket.has_ipv6:
        pytest.skip("no IPv6 in this Python")
    srv = socket.socket(socket.AF_INET6)
    try:
        srv.bind(("::1", 0))
    except OSError as e:
        srv.close()
        pytest.skip(f"no IPv6 loopback: {e}")
    srv.listen()
    port = srv.getsockname()[1]
    t = run_tool("corebpf.tools.tcpconnect", "--json", "-d", "2", "--port", str(port))
    c = socket.create_connection(("::1", port))
    c.close()
    srv.close()
    evs = _json_lines(t.finish())
    assert evs and all(e["dport"] == port for e in evs)  # --port filters
    assert evs[0]["family"] == 10 and evs[0]["daddr"] == "::1"


@pytest.mark.kernel
def test_tcplife(run_tool):
    t = run_tool("corebpf.tools.tcplife", "--json", "-d", "2")
    port, lport = _tcp_session(100_000)
    time.sleep(0.2)
    evs = _json_lines(t.finish())
    client = next(e for e in evs if e["dport"] == port and e["sport"] == lport)
    assert client["pid"] == os.getpid()
    assert client["tx_bytes"] >= 100_000  # bytes_acked, read through CO-RE from tcp_sock
    server = next(e for e in evs if e["sport"] == port and e["dport"] == lport)
    assert server["rx_bytes"] >= 100_000


@pytest.fixture
def veth_netns():
    """A veth pair: hAxxx in our namespace (10.203.0.1), hBxxx in a new netns (10.203.0.2)."""
    tag = f"{os.getpid() % 100000}"
    ns, a, b = f"hns{tag}", f"hA{tag}", f"hB{tag}"
    cmds = [["ip", "netns", "add", ns],
            ["ip", "link", "add", a, "type", "veth", "peer", "name", b],
            ["ip", "link", "set", b, "netns", ns],
            ["ip", "addr", "add", "10.203.0.1/24", "dev", a],
            ["ip", "link", "set", a, "up"],
            ["ip", "-n", ns, "addr", "add", "10.203.0.2/24", "dev", b],
            ["ip", "-n", ns, "link", "set", b, "up"]]
    try:
        for c in cmds:
            subprocess.run(c, check=True, capture_output=True)
        yield ns, a
    finally:
        subprocess.run(["ip", "link", "del", a], capture_output=True)
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)


@pytest.mark.kernel
def test_pktcount(run_tool, veth_netns):
    ns, iface = veth_netns
    t = run_tool("corebpf.tools.pktcount", iface, "--json", "-d", "3", "-i", "0.5")
    subprocess.run(["nsenter", f"--net=/var/run/netns/{ns}", "ping", "-c", "5", "-i", "0.2",
                    "-q", "10.203.0.1"], check=True, capture_output=True)
    evs = _json_lines(t.finish())
    assert evs[-1]["iface"] == iface
    assert evs[-1]["packets"] >= 5  # 5 echo requests (plus ARP/IPv6 noise)
    assert all(x["packets"] <= y["packets"] for x, y in zip(evs, evs[1:]))


@pytest.mark.kernel
def test_profile(run_tool):
    # a process that spends its time in read()/write() system calls: kernel stacks
    busy = subprocess.Popen(["dd", "if=/dev/zero", "of=/dev/null", "bs=1", "count=100000000"],
                            stderr=subprocess.DEVNULL)
    try:
        t = run_tool("corebpf.tools.profile", "--json", "-d", "2", "-F", "199", "-p",
                     str(busy.pid))
        rows = _json_lines(t.finish())
    finally:
        busy.kill()
        busy.wait()
    assert rows and all(r["pid"] == busy.pid and r["comm"] == "dd" for r in rows)
    # samples only land while dd is on a CPU: on a loaded 2-core machine that is a fraction
    assert sum(r["count"] for r in rows) >= 10
    kframes = [f for r in rows for f in r["kernel"]]
    assert any("sys_" in f or "entry_SYSCALL" in f for f in kframes), kframes[:20]
    # user frames are symbolized through the ELF symbols of dd / libc
    uframes = [f for r in rows for f in r["user"]]
    assert any(not f.startswith("0x") for f in uframes), uframes[:20]


@pytest.mark.kernel
def test_profile_folded(run_tool):
    busy = subprocess.Popen(["dd", "if=/dev/zero", "of=/dev/null", "bs=1", "count=100000000"],
                            stderr=subprocess.DEVNULL)
    try:
        t = run_tool("corebpf.tools.profile", "--folded", "-d", "1", "-F", "199", "-p",
                     str(busy.pid))
        out = t.finish()
    finally:
        busy.kill()
        busy.wait()
    line = out.splitlines()[0]
    stack, count = line.rsplit(" ", 1)
    assert stack.startswith("dd;") and int(count) > 0


def test_tool_command_lists_tools(capsys):
    from corebpf.cli.main import main
    assert main(["tool"]) == 0
    out = capsys.readouterr().out
    for name in TOOLS:
        assert name in out


def test_unknown_tool(capsys):
    from corebpf.cli.main import main
    assert main(["tool", "nope"]) == 1
    assert "unknown" in capsys.readouterr().err
