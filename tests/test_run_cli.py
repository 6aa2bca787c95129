"""``corebpf run``: load, attach, stream ring buffer events (JSON and table), print the
other maps at the end (log2 histograms as bars), --set, --event-type, --duration, SIGTERM."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

pytestmark = pytest.mark.kernel

PY = sys.executable


def _run(args: list[str], *, execs: float = 0.0, timeout: float = 60,
         sig_after: float | None = None) -> subprocess.CompletedProcess:
    """Run ``corebpf run ARGS``; once it is attached, exec /bin/true every 0.1 s for
    ``execs`` s (and SIGTERM it ``sig_after`` s after it is attached)."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    p = subprocess.Popen([PY, "-m", "corebpf", "run", *args], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, env=env)
    early = ""
    try:
        if execs or sig_after is not None:
            while True:  # slow under emulation (make test-kernels): wait, do not guess
                line = p.stderr.readline()
                early += line
                if not line or "Ctrl-C or SIGTERM to stop" in line:
                    break
        t0 = time.monotonic()
        while time.monotonic() - t0 < execs and p.poll() is None:
            subprocess.run(["/bin/true"])
            time.sleep(0.1)
        if sig_after is not None:
            time.sleep(max(0.0, sig_after - (time.monotonic() - t0)))
            p.send_signal(signal.SIGTERM)
        out, err = p.communicate(timeout=timeout)
        err = early + err
    finally:
        if p.poll() is None:
            p.kill()
            p.communicate()
    done = subprocess.CompletedProcess(p.args, p.returncode, out, err)
    done.pid = p.pid  # type: ignore[attr-defined]
    return done


@pytest.fixture(scope="module")
def run_obj(bpf_prog):
    return str(bpf_prog("hook_run"))


def _lines(out: str) -> list[dict]:
    return [json.loads(ln) for ln in out.splitlines() if ln.strip()]


def test_json_events_and_maps(run_obj):
    r = _run([run_obj, "--duration", "3", "--json", "--set", "marker=77"], execs=2.5)
    assert r.returncode == 0, r.stderr
    recs = _lines(r.stdout)
    events = [x for x in recs if "event" in x]
    maps = {x["map"]: x for x in recs if "map" in x}
    assert events, r.stdout + r.stderr
    assert all(e["event"] == "events" and e["marker"] == 77 for e in events)
    assert set(events[0]) == {"event", "pid", "ppid", "marker", "comm"}
    assert any(e["comm"] == "true" and e["ppid"] == os.getpid() for e in events)
    assert maps["exec_count"]["entries"][0]["key"] == 0
    assert maps["exec_count"]["entries"][0]["value"] >= len(
        [e for e in events if e["comm"] == "true"])
    assert sum(maps["comm_len_hist"]["histogram"]) == maps["exec_count"]["entries"][0]["value"]
    # events come before the final map dump
    assert recs.index(events[-1]) < recs.index(maps["exec_count"])


def test_table_output_and_histogram(run_obj):
    r = _run([run_obj, "--duration", "2.5", "--set", "marker=0x10"], execs=2)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    head = next(ln for ln in lines if ln.startswith("BUFFER"))
    assert head.split() == ["BUFFER", "PID", "PPID", "MARKER", "COMM"]
    rows = [ln.split() for ln in lines if ln.startswith("events ")]
    assert rows and all(row[3] == "16" for row in rows)
    assert "map exec_count:" in lines
    i = lines.index("map comm_len_hist:")
    assert "distribution" in lines[i + 1]
    assert any("|*" in ln for ln in lines[i + 2:])


def test_duration_zero(run_obj):
    t = time.monotonic()
    r = _run([run_obj, "--duration", "0"])
    assert r.returncode == 0, r.stderr
    assert r.stdout == ""
    assert time.monotonic() - t < 20


def test_sigterm_ends_run(run_obj):
    r = _run([run_obj, "--json"], execs=1.5, sig_after=2.5)
    assert r.returncode == 0, r.stderr
    maps = [x for x in _lines(r.stdout) if "map" in x]
    assert {m["map"] for m in maps} >= {"exec_count", "comm_len_hist"}


def test_event_type_option(run_obj, bpf_prog):
    r = _run([run_obj, "--duration", "1.5", "--json", "--event-type", "events=event"],
             execs=1)
    assert r.returncode == 0, r.stderr
    assert any("comm" in x for x in _lines(r.stdout) if "event" in x)
    r = _run([run_obj, "--duration", "0.5", "--event-type", "events=nosuch"])
    assert r.returncode == 1 and "no struct 'nosuch'" in r.stderr
    r = _run([run_obj, "--duration", "0.5", "--event-type", "nobuf=event"])
    assert r.returncode == 1 and "no buffer named nobuf" in r.stderr
    # no struct for the records in this object's BTF: raw hex
    r = _run([str(bpf_prog("hook_tp")), "--duration", "1.5", "--json"], execs=1)
    assert r.returncode == 0, r.stderr
    ev = [x for x in _lines(r.stdout) if "event" in x]
    assert ev and all(set(x) == {"event", "data"} for x in ev)
    assert len(bytes.fromhex(ev[0]["data"])) == 24


def test_bad_arguments(run_obj):
    r = _run([run_obj, "--duration", "0", "--set", "novalue"])
    assert r.returncode == 1 and "expected VAR=VALUE" in r.stderr
    r = _run([run_obj, "--duration", "0", "--cgroup", "/no/such/dir"])
    assert r.returncode == 1 and "no such directory" in r.stderr
    r = _run(["/no/such/object.o", "--duration", "0"])
    assert r.returncode == 1 and "corebpf: error:" in r.stderr


def test_iface_and_cgroup_options(bpf_prog):
    if not shutil.which("ip"):
        pytest.skip("iproute2 is not installed")
    obj = str(bpf_prog("hook_net"))
    r = _run([obj, "--duration", "0"])
    assert r.returncode == 0, r.stderr
    assert "xdp_count: not attached (xdp needs --iface)" in r.stderr
    assert "cg_in: not attached (cgroup_skb/ingress needs --cgroup)" in r.stderr
    dev = f"gdum{os.getpid() % 10000}"
    with open("/proc/mounts") as f:
        root = next(ln.split()[1] for ln in f if ln.split()[2] == "cgroup2")
    cg = os.path.join(root, f"corebpf_gtest_run_{os.getpid()}")
    made = subprocess.run(["ip", "link", "add", dev, "type", "veth", "peer", "name", dev + "p"],
                          capture_output=True, text=True)
    if made.returncode:
        pytest.skip(f"cannot create a veth pair: {made.stderr.strip()}")
    os.makedirs(cg, exist_ok=True)
    try:
        r = _run([obj, "--duration", "0.5", "--iface", dev, "--cgroup", cg, "--json"])
        assert r.returncode == 0, r.stderr
        assert "not attached" not in r.stderr.replace("sock_count: not attached", "")
        maps = [x for x in _lines(r.stdout) if "map" in x]
        assert maps[0]["map"] == "pkt_count" and len(maps[0]["entries"]) == 8
        shown = subprocess.run(["ip", "link", "show", dev], capture_output=True,
                               text=True).stdout
        assert "xdp" not in shown, "XDP left attached after the run"
    finally:
        subprocess.run(["ip", "link", "del", dev])
        os.rmdir(cg)


def test_event_type_inferred_from_record_size(bpf_prog):
    # struct gtest_exec_info is named unlike its buffer: found by the size given to
    # bpf_ringbuf_output; the "raw" buffer gets 20-byte blobs no struct matches: hex
    r = _run([str(bpf_prog("hook_runsize")), "--duration", "1.5", "--json"], execs=1)
    assert r.returncode == 0, r.stderr
    recs = [x for x in _lines(r.stdout) if "event" in x]
    records = [x for x in recs if x["event"] == "records"]
    raw = [x for x in recs if x["event"] == "raw"]
    perf = [x for x in recs if x["event"] == "perf_records"]
    assert records and all(x["flags"] == 5 and set(x) == {"event", "pid", "flags", "comm"}
                            for x in records)
    assert perf and all(x["flags"] == 5 and set(x) == {"event", "pid", "flags", "comm"}
                         for x in perf)
    assert raw and raw[0]["data"] == "0100000000000000020000000000000003000000"
    # the iter/task program ran once at the end; the run itself is among the tasks
    it = [x for x in _lines(r.stdout) if "iter" in x]
    assert len(it) == 1 and it[0]["iter"] == "list_tasks"
    tasks = dict(ln.split(" ", 1) for ln in it[0]["output"].splitlines())
    assert tasks[str(r.pid)].startswith("python")


def test_collector_settings(run_obj):
    """As the process's entry point, `corebpf run` keeps the cyclic GC off while it starts
    and freezes what start-up made before exit; a run that lasts gets automatic collection
    back. main(argv) called inside a process leaves the caller's collector alone."""
    code = ("import gc, sys\nfrom corebpf.cli.main import main\n"
            f"sys.argv = ['corebpf', 'run', {run_obj!r}, '--duration', sys.argv[1]]\n"
            "rc = main()\nprint(rc, gc.isenabled(), gc.get_freeze_count() > 0)\n")
    for duration, enabled in (("0", False), ("0.3", True)):
        r = subprocess.run([PY, "-c", code, duration], capture_output=True, text=True,
                           timeout=60)
        assert r.returncode == 0, r.stderr
        assert r.stdout.split()[-3:] == ["0", str(enabled), "True"], r.stdout + r.stderr
    import gc
    from corebpf.cli.main import main
    frozen = gc.get_freeze_count()
    assert main(["run", run_obj, "--duration", "0"]) == 0
    assert gc.isenabled() and gc.get_freeze_count() == frozen
