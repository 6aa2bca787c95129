"""Reliability: resource hygiene, privilege, concurrency, signals (issue 6)."""
from __future__ import annotations

import asyncio
import gc
import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import corebpf
from corebpf.errors import PermissionDenied

ROOT = Path(__file__).resolve().parent.parent
CLI = [sys.executable, "-m", "corebpf"]
pytestmark = pytest.mark.kernel


def _rss_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def _bpftool(*args: str):
    return json.loads(subprocess.run(["bpftool", "-j", *args], check=True,
                                     capture_output=True, text=True).stdout or "[]")


def _prog_ids(name: str) -> set[int]:
    return {p["id"] for p in _bpftool("prog", "list") if p.get("name") == name[:15]}


def _links_of(prog_ids: set[int]) -> list[dict]:
    return [ln for ln in _bpftool("link", "list") if ln.get("prog_id") in prog_ids]


def test_load_attach_close_1000_cycles_flat(bpf_prog):
    path = bpf_prog("rel_counter")
    spec = corebpf.ObjectSpec.from_file(path)
    # warm up caches (kernel BTF, feature probes) before measuring
    with corebpf.load(spec) as obj:
        obj.attach_all()
    gc.collect()
    fds = set(os.listdir("/proc/self/fd"))
    rss = _rss_kb()
    prog_ids: set[int] = set()
    map_ids: set[int] = set()
    for i in range(1000):
        obj = corebpf.load(spec)
        try:
            obj.attach_all()
            if i % 100 == 0:
                os.getppid()
                prog_ids |= {p.info().id for p in obj.programs.values()}
                map_ids |= {m.info().id for m in obj.maps.values()}
        finally:
            obj.close()
    gc.collect()
    assert set(os.listdir("/proc/self/fd")) == fds
    # the kernel frees what we made (other processes may create objects meanwhile)
    time.sleep(0.5)
    assert not prog_ids & {p["id"] for p in _bpftool("prog", "list")}
    assert not map_ids & {m["id"] for m in _bpftool("map", "list")}
    assert not _links_of(prog_ids)
    assert _rss_kb() - rss < 30_000, "RSS grew by more than 30 MB over 1,000 cycles"


def test_map_ops_from_many_threads():
    m = corebpf.Map.create("hash", key_size=4, value_size=8, max_entries=4096)
    errors: list[str] = []

    def worker(base: int) -> None:
        try:
            for r in range(300):
                for k in range(base, base + 10):
                    m[struct.pack("<I", k)] = struct.pack("<Q", k * 1000 + r)
                for k in range(base, base + 10):
                    got = struct.unpack("<Q", bytes(m[struct.pack("<I", k)]))[0]
                    if got != k * 1000 + r:
                        errors.append(f"key {k}: {got} != {k * 1000 + r}")
                        return
        except Exception as e:  # noqa: BLE001
            errors.append(repr(e))

    with m:
        threads = [threading.Thread(target=worker, args=(i * 100,)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert not errors, errors[:5]


def test_ringbuf_polled_from_thread_and_asyncio(bpf_prog):
    path = bpf_prog("rel_counter")
    with corebpf.load(path, variables={"target_pid": os.getpid()}) as obj:
        obj.attach_all()
        got: list[int] = []
        with obj.ring_buffer("events") as rb:
            def poller() -> None:
                deadline = time.monotonic() + 10
                while len(got) < 50 and time.monotonic() < deadline:
                    for rec in rb.poll(timeout=0.1):
                        got.append(struct.unpack_from("<II", bytes(rec))[1])

            t = threading.Thread(target=poller)
            t.start()
            for _ in range(50):
                os.getppid()
            t.join()
        assert sorted(got) == list(range(50))

        async def consume() -> list[int]:
            seen: list[int] = []
            async for rec in obj.ring_buffer("events"):
                seen.append(struct.unpack_from("<II", bytes(rec))[1])
                if len(seen) == 20:
                    break
            return seen

        async def main() -> list[int]:
            task = asyncio.ensure_future(consume())
            await asyncio.sleep(0.05)
            for _ in range(20):
                os.getppid()
            return await asyncio.wait_for(task, 10)

        seen = asyncio.run(main())
        assert seen == list(range(50, 70))


@pytest.fixture
def public_obj(bpf_prog):
    """A copy of the test object that user nobody can read (pytest's tmp is 0700)."""
    import tempfile
    d = tempfile.mkdtemp(prefix="corebpf-nobody-", dir="/tmp")
    os.chmod(d, 0o755)
    obj = Path(d) / "x.bpf.o"
    obj.write_bytes(Path(bpf_prog("rel_counter")).read_bytes())
    os.chmod(obj, 0o644)
    yield obj
    shutil.rmtree(d, ignore_errors=True)


def _nobody(cmd: list[str]) -> subprocess.CompletedProcess:
    if not shutil.which("setpriv"):
        pytest.fail("setpriv (util-linux) is missing")
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"), HOME="/tmp")
    return subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                           "--inh-caps=-all", *cmd], capture_output=True, text=True, env=env,
                          cwd="/", timeout=60)


def test_unprivileged_library_call_fails_clearly(public_obj):
    obj = public_obj
    code = ("import corebpf, sys\n"
            "try:\n"
            f"    corebpf.load({str(obj)!r})\n"
            "except corebpf.PermissionDenied as e:\n"
            "    print('DENIED', e); sys.exit(3)\n")
    r = _nobody([sys.executable, "-c", code])
    assert r.returncode == 3, r.stdout + r.stderr
    assert "DENIED" in r.stdout
    assert "root" in r.stdout or "CAP_BPF" in r.stdout, r.stdout


@pytest.mark.parametrize("args", [
    ["load", "{obj}", "--pin-dir", "/sys/fs/bpf/corebpf-nobody"],
    ["run", "{obj}", "--duration", "0"],
    ["prog", "list"],
    ["map", "list"],
])
def test_unprivileged_cli_one_clear_message(public_obj, args):
    obj = public_obj
    try:
        r = _nobody([*CLI, *[a.format(obj=obj) for a in args]])
        left_behind = os.path.isdir("/sys/fs/bpf/corebpf-nobody")
    finally:
        if os.path.isdir("/sys/fs/bpf/corebpf-nobody"):
            shutil.rmtree("/sys/fs/bpf/corebpf-nobody", ignore_errors=True)
    # a refused load must not leave its pin directory behind
    assert not left_behind
    assert r.returncode != 0, r.stdout + r.stderr
    assert "Traceback" not in r.stderr, r.stderr
    err = r.stderr + r.stdout
    assert "root" in err or "CAP_BPF" in err or "ermission" in err, err


def test_unprivileged_inspect_works(public_obj):
    """Reading an object needs no privilege."""
    obj = public_obj
    r = _nobody([*CLI, "inspect", str(obj)])
    assert r.returncode == 0, r.stderr
    assert "rel_on_getppid" in r.stdout


def _wait_attached(name: str, timeout: float = 20) -> set[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ids = _prog_ids(name)
        if ids and _links_of(ids):
            return ids
        time.sleep(0.1)
    raise AssertionError(f"{name} never attached")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGKILL])
def test_signal_during_run_leaves_nothing_attached(bpf_prog, sig):
    path = bpf_prog("rel_counter")
    before = _prog_ids("rel_on_getppid")
    p = subprocess.Popen([*CLI, "run", str(path), "--duration", "60"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        ids = _wait_attached("rel_on_getppid") - before
        assert ids
        p.send_signal(sig)
        out, err = p.communicate(timeout=20)
    finally:
        if p.poll() is None:
            p.kill()
            p.communicate()
    if sig != signal.SIGKILL:
        assert p.returncode in (0, 130, -sig, 128 + sig), err
        assert "Traceback" not in err, err
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and (_links_of(ids) or _prog_ids("rel_on_getppid") & ids):
        time.sleep(0.1)
    assert not _links_of(ids)
    assert not (_prog_ids("rel_on_getppid") & ids)


def test_permission_denied_is_a_kernel_error():
    assert issubclass(PermissionDenied, corebpf.KernelError)
