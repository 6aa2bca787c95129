"""``corebpf export CONFIG.yaml --listen ADDR``: serve BPF map contents as Prometheus metrics.

The config names an object to load and attach (optional) and the maps to export::

    object: /usr/lib/corebpf/pktcount.bpf.o   # optional: loaded and attached at start
    programs: [on_wakeup, on_switch]          # optional: load only these programs
    attach: true                              # attach_all() (default true)
    xdp: {program: count_packets, iface: eth0} # optional: attach one XDP program
    metrics:
      - name: xdp_packets_total               # metric name
        help: Packets seen by XDP
        type: counter                         # counter | gauge | histogram
        map: pkt_count                        # a map of the object, or
        # map_id: 12 / map_pin: /sys/fs/bpf/x / map_name: NAME (any map in the kernel)
        labels: [slot]                        # label names for the key (default "key")
        key: 0                                # optional: export only this key
        field: count                          # optional: member of a struct value (BTF)
      - name: runq_latency_seconds
        type: histogram                       # log2 array map: key = slot, value = count
        map: hist
        scale: 1e-6                           # bucket bounds in map units * scale

Values are summed over CPUs for per-CPU maps. ``--once`` prints the metrics and exits.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
import threading
import time
TYPE_CHECKING = False  # typing costs ≈3 ms of start-up; checkers take this as True
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any

from ..errors import Error
from . import _output as out

_NAME_RE = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_LABEL_RE = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class ConfigError(Error):
    """The export configuration is invalid; the message names the file and entry."""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="serve map contents as Prometheus metrics",
                       description=__doc__.split("\n\n")[0].replace("``", ""))
    p.add_argument("config", metavar="CONFIG.yaml", help="what to export (YAML or JSON)")
    p.add_argument("--listen", default="127.0.0.1:9435", metavar="ADDR",
                   help="host:port to serve /metrics on (default 127.0.0.1:9435)")
    p.add_argument("--once", action="store_true", help="print the metrics once and exit")
    p.add_argument("--duration", type=float, default=None, metavar="SECONDS",
                   help="stop serving after SECONDS")
    p.set_defaults(func=run)


# --- configuration ---------------------------------------------------------------------------

def load_config(path: str) -> dict[str, Any]:
    """Read and check the config file (YAML needs PyYAML; ``.json`` files do not)."""
    try:
        with open(path) as f:
            text = f.read()
    except OSError as e:
        raise ConfigError(f"export config {path}: {e.strerror}") from None
    if path.endswith(".json"):
        try:
            cfg = json.loads(text)
        except ValueError as e:
            raise ConfigError(f"export config {path}: invalid JSON: {e}") from None
    else:
        try:
            import yaml
        except ImportError:
            raise ConfigError("export: YAML configs need PyYAML: pip install "
                              "'corebpf[export]' (or give a .json config)") from None
        try:
            cfg = yaml.safe_load(text)
        except yaml.YAMLError as e:
            raise ConfigError(f"export config {path}: invalid YAML: {e}") from None
    return check_config(cfg, path)


def check_config(cfg: Any, path: str = "<config>") -> dict[str, Any]:
    if not isinstance(cfg, dict):
        raise ConfigError(f"export config {path}: expected a mapping at the top")
    metrics = cfg.get("metrics")
    if not isinstance(metrics, list) or not metrics:
        raise ConfigError(f"export config {path}: 'metrics' must be a non-empty list")
    seen = set()
    for i, m in enumerate(metrics):
        where = f"export config {path}: metrics[{i}]"
        if not isinstance(m, dict):
            raise ConfigError(f"{where}: expected a mapping")
        name = m.get("name")
        if not isinstance(name, str) or not _NAME_RE.match(name):
            raise ConfigError(f"{where}: 'name' must be a Prometheus metric name, got {name!r}")
        if name in seen:
            raise ConfigError(f"{where}: metric {name!r} appears twice")
        seen.add(name)
        t = m.setdefault("type", "gauge")
        if t not in ("counter", "gauge", "histogram"):
            raise ConfigError(f"{where} ({name}): type must be counter, gauge or histogram")
        sources = [k for k in ("map", "map_id", "map_pin", "map_name") if k in m]
        if len(sources) != 1:
            raise ConfigError(f"{where} ({name}): give exactly one of map, map_id, map_pin, "
                              "map_name")
        if "map" in m and not cfg.get("object"):
            raise ConfigError(f"{where} ({name}): 'map' names a map of 'object', but the "
                              "config has no object (use map_id/map_pin/map_name)")
        m["_labels_given"] = "labels" in m
        labels = m.get("labels", ["key"])
        if isinstance(labels, str):
            labels = [labels]
        if not all(isinstance(x, str) and _LABEL_RE.match(x) for x in labels):
            raise ConfigError(f"{where} ({name}): labels must be label names")
        m["labels"] = labels
        if "scale" in m:
            try:
                m["scale"] = float(m["scale"])
            except (TypeError, ValueError):
                raise ConfigError(f"{where} ({name}): scale must be a number") from None
    return cfg


# --- reading maps ----------------------------------------------------------------------------

def _value_number(m: Any, raw: bytes, field: str | None) -> float:
    """A number from a value's bytes: summed over CPUs, through BTF for ``field``."""
    parts = ([raw[c * m.stride:c * m.stride + m.value_size] for c in range(m.ncpu)]
             if m.percpu else [raw])
    total = 0.0
    for p in parts:
        if field is not None:
            if m.vcodec is None:
                raise Error(f"map {m.info['name']}: 'field: {field}' needs the map's BTF "
                            "(value codec)")
            v = m.vcodec.decode(p)
            try:
                v = v[field] if isinstance(v, dict) else getattr(v, field)
                total += float(v)
            except (KeyError, AttributeError, TypeError, ValueError):
                raise Error(f"map {m.info['name']}: value has no number field {field!r}") \
                    from None
        else:
            total += int.from_bytes(p[:8] if len(p) >= 8 else p, "little")
    return total


def _key_labels(m: Any, key: bytes, names: list[str]) -> list[str]:
    """Label values for ``key``: an integer, the members of a BTF struct, or hex."""
    vals: list[str]
    if m.kcodec is not None:
        try:
            from .map import _jsonable
            k = _jsonable(m.kcodec.decode(key))
            vals = [str(x) for x in k.values()] if isinstance(k, dict) else [
                json.dumps(k) if isinstance(k, list) else str(k)]
        except Exception:  # noqa: BLE001
            vals = []
        if vals:
            return (vals + [""] * len(names))[:len(names)]
    if len(key) in (1, 2, 4, 8):
        return [str(int.from_bytes(key, "little"))] + [""] * (len(names) - 1)
    text = key.split(b"\0", 1)[0]
    if text and all(32 <= c < 127 for c in text):
        return [text.decode()] + [""] * (len(names) - 1)
    return [key.hex()] + [""] * (len(names) - 1)


def _esc(v: str) -> str:
    return v.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _fmt(v: float) -> str:
    if v == math.inf:
        return "+Inf"
    if float(v).is_integer() and abs(v) < 1 << 53:
        return str(int(v))
    return f"{v:.12g}"  # 1.5e-05, not 1.4999999999999999e-05 from the scaling


class Exporter:
    """Holds the loaded object (if any) and the open maps; renders the metrics text."""

    def __init__(self, cfg: dict[str, Any]) -> None:
        self.cfg = cfg
        self.obj: Any = None
        self._links: list[Any] = []
        self._fds: list[Any] = []
        self.maps: dict[str, Any] = {}
        self.lock = threading.Lock()
        self.scrapes = 0
        try:
            self._open()
        except BaseException:
            self.close()
            raise

    def _open(self) -> None:
        from .. import _sys
        from .map import MapAccess
        cfg = self.cfg
        if cfg.get("object"):
            import corebpf
            self.obj = corebpf.load(cfg["object"], variables=cfg.get("variables") or None,
                                    programs=cfg.get("programs") or None)
            if cfg.get("attach", True):
                self.obj.attach_all()
            x = cfg.get("xdp")
            if x:
                prog = self.obj.programs[x["program"]]
                kw = {"mode": x["mode"]} if x.get("mode") else {}
                self._links.append(prog.attach(iface=x["iface"], **kw))
        for m in cfg["metrics"]:
            if "map" in m:
                fd = _sys.FD(os.dup(self.obj.map_fd(m["map"])), "map")
            elif "map_id" in m:
                fd = _sys.map_get_fd_by_id(int(m["map_id"]))
            elif "map_pin" in m:
                fd = _sys.obj_get(str(m["map_pin"]))
            else:
                fd = out.open_object("map", "name " + str(m["map_name"]))
            self._fds.append(fd)
            self.maps[m["name"]] = MapAccess(fd)

    def close(self) -> None:
        for ln in self._links:
            ln.close()
        self._links.clear()
        for fd in self._fds:
            fd.close()
        self._fds.clear()
        if self.obj is not None:
            self.obj.close()
            self.obj = None

    def __enter__(self) -> "Exporter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def render(self) -> str:
        """The whole exposition text (Prometheus text format 0.0.4)."""
        t0 = time.monotonic()
        lines: list[str] = []
        with self.lock:
            self.scrapes += 1
            for m in self.cfg["metrics"]:
                self._render_metric(m, lines)
        lines.append("# HELP corebpf_export_scrape_duration_seconds Time to read the maps.")
        lines.append("# TYPE corebpf_export_scrape_duration_seconds gauge")
        lines.append(f"corebpf_export_scrape_duration_seconds {time.monotonic() - t0:.6f}")
        return "\n".join(lines) + "\n"

    def _entries(self, m: dict[str, Any], acc: Any) -> list[tuple[bytes, bytes]]:
        if "key" in m:
            key = out.parse_bytes([str(m["key"])], acc.key_size, "key")
            try:
                return [(key, acc.lookup(key))]
            except Error:
                return []
        res = []
        for k in acc.keys():
            try:
                res.append((k, acc.lookup(k)))
            except Error:
                continue
        return res

    def _render_metric(self, m: dict[str, Any], lines: list[str]) -> None:
        name, typ = m["name"], m["type"]
        acc = self.maps[name]
        help_text = m.get("help") or f"BPF map {acc.info['name']} ({typ})"
        lines.append(f"# HELP {name} {_esc(str(help_text))}")
        lines.append(f"# TYPE {name} {typ}")
        entries = self._entries(m, acc)
        field = m.get("field")
        if typ == "histogram":
            self._render_hist(m, acc, entries, field, lines)
            return
        for k, v in entries:
            val = _value_number(acc, v, field)
            if "key" in m and not m["_labels_given"]:
                lbl = ""  # one chosen key: a plain series
            else:
                vals = _key_labels(acc, k, m["labels"])
                lbl = "{" + ",".join(f'{n}="{_esc(x)}"' for n, x in zip(m["labels"], vals)) + "}"
            lines.append(f"{name}{lbl} {_fmt(val * m.get('scale', 1.0))}")

    def _render_hist(self, m: dict[str, Any], acc: Any, entries: list[tuple[bytes, bytes]],
                     field: str | None, lines: list[str]) -> None:
        counts: dict[int, float] = {}
        for k, v in entries:
            slot = int.from_bytes(k[:4], "little")
            counts[slot] = counts.get(slot, 0) + _value_number(acc, v, field)
        scale = m.get("scale", 1.0)
        name = m["name"]
        top = max((s for s, c in counts.items() if c), default=-1)
        cum = 0.0
        total_sum = 0.0
        for slot in range(top + 1):
            c = counts.get(slot, 0)
            cum += c
            lo, hi = (0, 1) if slot == 0 else (1 << slot, (1 << (slot + 1)) - 1)
            total_sum += c * (lo + hi) / 2  # midpoint: the map keeps no exact sum
            lines.append(f'{name}_bucket{{le="{_fmt(hi * scale)}"}} {_fmt(cum)}')
        lines.append(f'{name}_bucket{{le="+Inf"}} {_fmt(cum)}')
        lines.append(f"{name}_sum {_fmt(total_sum * scale)}")
        lines.append(f"{name}_count {_fmt(cum)}")


def parse_listen(addr: str) -> tuple[str, int]:
    host, sep, port = addr.rpartition(":")
    if not sep:
        host, port = "127.0.0.1", addr
    host = host.strip("[]") or "0.0.0.0"
    try:
        p = int(port)
    except ValueError:
        raise Error(f"export: --listen {addr!r}: expected HOST:PORT") from None
    if not 0 <= p < 65536:
        raise Error(f"export: --listen {addr!r}: port out of range")
    return host, p


def serve(exporter: Exporter, host: str, port: int, duration: float | None = None,
          ready: Any = None) -> None:
    """Serve ``/metrics`` until Ctrl-C, SIGTERM or ``duration`` seconds."""
    import signal
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            if self.path.split("?", 1)[0] == "/metrics":
                try:
                    body = exporter.render().encode()
                    code, ctype = 200, CONTENT_TYPE
                except Error as e:
                    body, code, ctype = f"error: {e}\n".encode(), 500, "text/plain"
            elif self.path in ("/", "/index.html"):
                body = (b"<html><head><title>corebpf exporter</title></head><body>"
                        b"<h1>corebpf exporter</h1><a href=\"/metrics\">metrics</a>"
                        b"</body></html>")
                code, ctype = 200, "text/html"
            else:
                body, code, ctype = b"not found\n", 404, "text/plain"
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, fmt: str, *args: Any) -> None:
            pass  # scrapes every few seconds would flood stderr

    class Server(ThreadingHTTPServer):
        daemon_threads = True
        allow_reuse_address = True

    if ":" in host:
        import socket
        Server.address_family = socket.AF_INET6
    try:
        httpd = Server((host, port), Handler)
    except OSError as e:
        raise Error(f"export: cannot listen on {host}:{port}: {e.strerror}") from None
    stop = threading.Event()

    def on_term(*_: Any) -> None:
        stop.set()
    try:
        signal.signal(signal.SIGTERM, on_term)
    except ValueError:
        pass
    t = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.2},
                         daemon=True)
    t.start()
    real_port = httpd.server_address[1]
    print(f"corebpf export: serving http://{host}:{real_port}/metrics", file=sys.stderr,
          flush=True)
    if ready is not None:
        ready(real_port)
    try:
        stop.wait(duration)
    except KeyboardInterrupt:
        pass
    finally:
        httpd.shutdown()
        httpd.server_close()


def run(args: argparse.Namespace) -> int:
    cfg = load_config(args.config)
    with Exporter(cfg) as ex:
        if args.once:
            sys.stdout.write(ex.render())
            return 0
        host, port = parse_listen(args.listen)
        serve(ex, host, port, args.duration)
    return 0
