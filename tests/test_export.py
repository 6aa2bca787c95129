"""`corebpf export`: map contents as Prometheus metrics, scraped by a real Prometheus."""
from __future__ import annotations

import ctypes
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from corebpf import _sys
from corebpf.cli import export
from corebpf.errors import Error

PY = sys.executable
ARRAY, PERCPU_ARRAY = 2, 6


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _put(fd, key: int, value: bytes) -> None:
    k = ctypes.create_string_buffer(key.to_bytes(4, "little"), 4)
    v = ctypes.create_string_buffer(value, len(value))
    _sys.map_update_elem(fd, k, v)


@pytest.fixture
def maps():
    """A u32->u64 counter array, a log2 histogram array and a per-CPU array."""
    cnt = _sys.map_create(ARRAY, 4, 8, 4, map_name="h_exp_cnt")
    hist = _sys.map_create(ARRAY, 4, 8, 32, map_name="h_exp_hist")
    pc = _sys.map_create(PERCPU_ARRAY, 4, 8, 1, map_name="h_exp_pcpu")
    for i, n in enumerate((7, 0, 42, 5)):
        _put(cnt, i, n.to_bytes(8, "little"))
    for slot, n in {1: 3, 2: 10, 4: 1}.items():  # values 2-3: 3, 4-7: 10, 16-31: 1
        _put(hist, slot, n.to_bytes(8, "little"))
    ncpu = _sys.possible_cpus()
    _put(pc, 0, b"".join((c + 1).to_bytes(8, "little") for c in range(ncpu)))
    ids = {name: _sys.map_info(fd)["id"] for name, fd in
           (("cnt", cnt), ("hist", hist), ("pc", pc))}
    yield ids, ncpu
    for fd in (cnt, hist, pc):
        fd.close()


def _config(tmp_path: Path, ids: dict[str, int]) -> Path:
    cfg = {"metrics": [
        {"name": "h_packets_total", "help": "packets per queue", "type": "counter",
         "map_id": ids["cnt"], "labels": ["queue"]},
        {"name": "h_latency_seconds", "type": "histogram", "map_id": ids["hist"],
         "scale": 1e-6},
        {"name": "h_percpu_sum", "type": "gauge", "map_id": ids["pc"], "key": 0},
    ]}
    p = tmp_path / "export.json"
    p.write_text(json.dumps(cfg))
    return p


@pytest.mark.kernel
def test_render_text(maps, tmp_path, no_fd_leak):
    ids, ncpu = maps
    with export.Exporter(export.load_config(str(_config(tmp_path, ids)))) as ex:
        text = ex.render()
    assert "# TYPE h_packets_total counter" in text
    assert 'h_packets_total{queue="0"} 7' in text
    assert 'h_packets_total{queue="2"} 42' in text
    assert "# TYPE h_latency_seconds histogram" in text
    assert 'h_latency_seconds_bucket{le="3e-06"} 3' in text
    assert 'h_latency_seconds_bucket{le="7e-06"} 13' in text
    assert 'h_latency_seconds_bucket{le="+Inf"} 14' in text
    assert "h_latency_seconds_count 14" in text
    assert f"h_percpu_sum {ncpu * (ncpu + 1) // 2}" in text


@pytest.mark.kernel
def test_once_command(maps, tmp_path):
    ids, _ = maps
    r = subprocess.run([PY, "-m", "corebpf", "export", str(_config(tmp_path, ids)), "--once"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert 'h_packets_total{queue="3"} 5' in r.stdout


def test_config_errors(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"metrics": [{"name": "bad name", "map_id": 1}]}))
    with pytest.raises(export.ConfigError, match="metric name"):
        export.load_config(str(bad))
    bad.write_text(json.dumps({"metrics": [{"name": "x", "map": "m"}]}))
    with pytest.raises(export.ConfigError, match="no object"):
        export.load_config(str(bad))
    bad.write_text(json.dumps({"metrics": [{"name": "x", "type": "summary", "map_id": 1}]}))
    with pytest.raises(export.ConfigError, match="counter, gauge or histogram"):
        export.load_config(str(bad))
    with pytest.raises(Error, match="no such file|No such file"):
        export.load_config(str(tmp_path / "missing.yaml"))


def test_yaml_config(tmp_path):
    pytest.importorskip("yaml")
    p = tmp_path / "c.yaml"
    p.write_text("metrics:\n  - name: a_total\n    type: counter\n    map_pin: /sys/fs/bpf/x\n")
    cfg = export.load_config(str(p))
    assert cfg["metrics"][0]["labels"] == ["key"]


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=5) as r:
        return r.read()


@pytest.mark.kernel
def test_scraped_by_prometheus(maps, tmp_path):
    prom = shutil.which("prometheus")
    if not prom:
        pytest.skip("prometheus not installed (Debian package `prometheus`; "
                    "scripts/setup-system.sh installs it)")
    ids, _ = maps
    eport, pport = _free_port(), _free_port()
    exp = subprocess.Popen([PY, "-m", "corebpf", "export", str(_config(tmp_path, ids)),
                            "--listen", f"127.0.0.1:{eport}"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    (tmp_path / "prom.yml").write_text(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        "scrape_configs:\n  - job_name: corebpf\n    static_configs:\n"
        f"      - targets: ['127.0.0.1:{eport}']\n")
    pr = subprocess.Popen([prom, f"--config.file={tmp_path / 'prom.yml'}",
                           f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                           f"--web.listen-address=127.0.0.1:{pport}"],
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        # the exporter answers by itself first
        deadline = time.monotonic() + 20
        while True:
            try:
                body = _get(f"http://127.0.0.1:{eport}/metrics").decode()
                break
            except OSError:
                if time.monotonic() > deadline or exp.poll() is not None:
                    raise AssertionError(f"exporter did not come up: {exp.stderr.read()}")
                time.sleep(0.2)
        assert 'h_packets_total{queue="2"} 42' in body

        def query(q: str) -> list:
            url = f"http://127.0.0.1:{pport}/api/v1/query?" + urllib.parse.urlencode({"query": q})
            return json.loads(_get(url))["data"]["result"]

        deadline = time.monotonic() + 40
        result: list = []
        while time.monotonic() < deadline:
            try:
                result = query("h_packets_total")
            except OSError:
                result = []
            if len(result) == 4:
                break
            time.sleep(0.5)
        got = {r["metric"]["queue"]: float(r["value"][1]) for r in result}
        assert got == {"0": 7.0, "1": 0.0, "2": 42.0, "3": 5.0}
        assert all(r["metric"]["job"] == "corebpf" for r in result)
        count = query("h_latency_seconds_count")
        assert float(count[0]["value"][1]) == 14.0
        # Prometheus understands it as a histogram: quantiles come out inside the buckets
        q = query("histogram_quantile(0.5, h_latency_seconds_bucket)")
        assert 3e-6 <= float(q[0]["value"][1]) <= 7e-6
        up = query('up{job="corebpf"}')
        assert float(up[0]["value"][1]) == 1.0
    finally:
        for p in (pr, exp):
            p.terminate()
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
    assert exp.returncode in (0, -15), exp.stderr.read()


@pytest.mark.kernel
def test_struct_keys_become_labels(bpf_prog, tmp_path):
    """A map with a BTF struct key: one label per member; `field:` picks a value member."""
    import corebpf
    with corebpf.load(bpf_prog("cli_typed")) as obj:
        mid = _sys.map_info(obj.map_fd("stats"))["id"]
        from corebpf.cli.map import MapAccess
        fd = _sys.map_get_fd_by_id(mid)
        with fd:
            acc = MapAccess(fd)
            for pid, comm, calls in ((7, "bash", 5), (8, "sshd", 11)):
                acc.update(acc.kcodec.encode({"pid": pid, "comm": comm}),
                           acc.vcodec.encode({"calls": calls, "last_ret": 0, "flags": [0, 0]}))
        cfg = tmp_path / "c.json"
        cfg.write_text(json.dumps({"metrics": [
            {"name": "calls_total", "type": "counter", "map_id": mid,
             "labels": ["pid", "comm"], "field": "calls"}]}))
        with export.Exporter(export.load_config(str(cfg))) as ex:
            text = ex.render()
    assert 'calls_total{pid="7",comm="bash"} 5' in text
    assert 'calls_total{pid="8",comm="sshd"} 11' in text


@pytest.mark.kernel
def test_object_with_xdp(tmp_path):
    """The exporter loads an object, attaches its XDP program, and serves its counter."""
    from corebpf.tools import object_path
    tag = f"{os.getpid() % 100000}"
    ns, a, b = f"hexp{tag}", f"hxA{tag}", f"hxB{tag}"
    setup = [["ip", "netns", "add", ns],
             ["ip", "link", "add", a, "type", "veth", "peer", "name", b],
             ["ip", "link", "set", b, "netns", ns],
             ["ip", "addr", "add", "10.204.0.1/24", "dev", a], ["ip", "link", "set", a, "up"],
             ["ip", "-n", ns, "addr", "add", "10.204.0.2/24", "dev", b],
             ["ip", "-n", ns, "link", "set", b, "up"]]
    try:
        for c in setup:
            subprocess.run(c, check=True, capture_output=True)
        cfg = export.check_config({
            "object": str(object_path("pktcount")), "attach": False,
            "xdp": {"program": "count_packets", "iface": a},
            "metrics": [{"name": "xdp_packets_total", "type": "counter", "map": "pkt_count",
                         "key": 0}]})
        with export.Exporter(cfg) as ex:
            subprocess.run(["nsenter", f"--net=/var/run/netns/{ns}", "ping", "-c", "4", "-i",
                            "0.2", "-q", "10.204.0.1"], check=True, capture_output=True)
            text = ex.render()
        n = int(next(ln for ln in text.splitlines()
                     if ln.startswith("xdp_packets_total ")).split()[1])
        assert n >= 4
    finally:
        subprocess.run(["ip", "link", "del", a], capture_output=True)
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)
