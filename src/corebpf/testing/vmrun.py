"""Run a command under another kernel in qemu, with the host filesystem shared read-only.

    python -m corebpf.testing.vmrun --kernels 6.1,6.12 --jobs 2 --summary -- \
        $PWD/.venv/bin/python -m pytest -v -m kernel tests/test_maps.py

Debian's 6.1 and 6.12 kernels have what the host's may lack (fentry/fexit, BPF LSM,
kprobes), so those paths can be tested for real. The guest boots a tiny busybox initramfs
that mounts the host's ``/`` over 9p (read-only) under an overlay whose writable layer is a
scratch ext4 disk, mounts proc, sysfs, bpffs, tracefs, debugfs and cgroup2, installs a
``modprobe`` for the kernel's own modules, then chroots into it and runs the command in the
caller's working directory with the caller's environment. Output (streamed while it runs)
and the exit code come back through a second, read-write 9p share. docs/kernel-matrix.md
says why each piece is there.

Kernels are fetched with ``apt-get download`` and unpacked with ``dpkg -x`` into
``$XDG_CACHE_HOME/corebpf/kernels`` (no changes to /boot).
"""
from __future__ import annotations

import argparse
import lzma
import os
import re
import shlex
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "corebpf" / "kernels"

# what the guest needs as modules (with their dependencies, resolved from .modinfo)
WANTED_MODULES = ("9pnet_virtio", "9p", "overlay", "virtio_pci", "virtio_blk", "crc32c_generic",
                  "ext4")

# package name patterns per kernel series
SERIES = {
    "6.1": r"^linux-image-6\.1\.0-[0-9]+-amd64$",
    "6.12": r"^linux-image-6\.12\.[0-9]+\+deb12-amd64$",
}


class VMError(Exception):
    pass


def _run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, check=True, **kw)


def ensure_tools() -> None:
    missing = [p for p, exe in (("qemu-system-x86", "qemu-system-x86_64"),
                                ("busybox-static", "/bin/busybox")) if not shutil.which(exe)]
    if missing:
        if os.geteuid() != 0:
            raise VMError(f"missing packages: {' '.join(missing)} (apt-get install them)")
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        _run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing], env=env,
             stdout=subprocess.DEVNULL)


def _package_for(series: str) -> str:
    pat = SERIES.get(series)
    if pat is None:
        raise VMError(f"unknown kernel series {series!r}; known: {', '.join(SERIES)}")
    out = subprocess.run(["apt-cache", "search", "--names-only", pat[1:-1]],
                         capture_output=True, text=True).stdout
    names = [ln.split(" ")[0] for ln in out.splitlines()]
    names = [n for n in names if re.match(pat, n)]
    if not names:
        subprocess.run(["apt-get", "update", "-qq"], check=False)
        out = subprocess.run(["apt-cache", "search", "--names-only", pat[1:-1]],
                             capture_output=True, text=True).stdout
        names = [n for n in (ln.split(" ")[0] for ln in out.splitlines()) if re.match(pat, n)]
    if not names:
        raise VMError(f"no Debian package found for kernel {series}")
    key = lambda n: [int(x) for x in re.findall(r"\d+", n)]  # noqa: E731
    return max(names, key=key)


def fetch_kernel(series: str) -> Path:
    """Download and unpack the newest Debian kernel of a series; return its directory."""
    CACHE.mkdir(parents=True, exist_ok=True)
    for d in sorted(CACHE.glob(f"{series}-*")):
        if (d / ".complete").exists():
            return d
    pkg = _package_for(series)
    dest = CACHE / f"{series}-{pkg.removeprefix('linux-image-')}"
    with tempfile.TemporaryDirectory(dir=CACHE) as tmp:
        _run(["apt-get", "download", pkg], cwd=tmp, stdout=subprocess.DEVNULL,
             stderr=subprocess.DEVNULL)
        deb = next(Path(tmp).glob("*.deb"))
        unpack = Path(tmp) / "x"
        _run(["dpkg", "-x", str(deb), str(unpack)])
        if dest.exists():
            shutil.rmtree(dest)
        dest.mkdir()
        vmlinuz = next((unpack / "boot").glob("vmlinuz-*"))
        shutil.copy(vmlinuz, dest / "vmlinuz")
        shutil.copy(next((unpack / "boot").glob("config-*")), dest / "config")
        moddir = next((unpack / "lib" / "modules").iterdir())
        shutil.move(str(moddir), dest / "modules")
    (dest / ".complete").touch()
    return dest


def _module_index(moddir: Path) -> dict[str, Path]:
    idx = {}
    for p in (moddir / "kernel").rglob("*.ko*"):
        name = p.name.split(".ko")[0].replace("-", "_")
        idx[name] = p
    return idx


def _module_bytes(p: Path) -> bytes:
    data = p.read_bytes()
    if p.name.endswith(".xz"):
        data = lzma.decompress(data)
    elif p.name.endswith(".zst"):
        raise VMError(f"zstd-compressed module {p} not supported")
    return data


def _depends(data: bytes) -> list[str]:
    m = re.search(rb"(?:^|\0)depends=([^\0]*)\0", data)
    if not m or not m.group(1):
        return []
    return [d.decode().replace("-", "_") for d in m.group(1).split(b",") if d]


def _module_load_order(kdir: Path) -> list[tuple[str, bytes]]:
    idx = _module_index(kdir / "modules")
    builtin = set()
    bfile = kdir / "modules" / "modules.builtin"
    if bfile.exists():
        builtin = {Path(x).name.split(".ko")[0].replace("-", "_")
                   for x in bfile.read_text().split()}
    order: list[tuple[str, bytes]] = []
    seen: set[str] = set()

    def visit(name: str) -> None:
        if name in seen or name in builtin:
            return
        seen.add(name)
        p = idx.get(name)
        if p is None:
            return
        data = _module_bytes(p)
        for dep in _depends(data):
            visit(dep)
        order.append((name, data))

    for m in WANTED_MODULES:
        visit(m)
    return order


# Modules the kernel may ask for while tests run (veth, clsact, cls_bpf, dummy, tun, nf_*):
# those of net/ and the top of drivers/net/. Everything else the kernel asks for is absent.
_AUTOLOAD_DIRS = ("net/", "drivers/net/")
_AUTOLOAD_VERSION = "2"


def _glob_regex(pattern: str) -> str:
    out = []
    for ch in pattern:
        # POSIX ERE for busybox awk: only its metacharacters escaped; [...] kept as a class
        out.append(".*" if ch == "*" else "." if ch == "?" else
                   "\\" + ch if ch in ".^$+(){}|\\" else ch)
    return "^" + "".join(out) + "$"


def _autoload_table(kdir: Path) -> str:
    """Lines ``regex module path...`` for the guest's modprobe: the names and aliases a module
    answers to, then the files of its dependencies and itself, in load order (cached)."""
    cached = kdir / "vmrun-autoload.txt"
    if cached.exists():
        text = cached.read_text()
        if text.startswith(f"#v{_AUTOLOAD_VERSION}\n"):
            return text
    moddir = kdir / "modules"
    idx = _module_index(moddir)
    builtin = set()
    if (moddir / "modules.builtin").exists():
        builtin = {Path(x).name.split(".ko")[0].replace("-", "_")
                   for x in (moddir / "modules.builtin").read_text().split()}
    info: dict[str, tuple[list[str], list[str]]] = {}

    def modinfo(name: str) -> tuple[list[str], list[str]]:
        if name not in info:
            data = _module_bytes(idx[name])
            aliases = [a.decode(errors="replace") for a in
                       re.findall(rb"(?:^|\0)alias=([^\0]*)", data)]
            info[name] = (_depends(data), aliases)
        return info[name]

    def closure(name: str, seen: set[str], order: list[str]) -> None:
        if name in seen or name in builtin or name not in idx:
            return
        seen.add(name)
        for dep in modinfo(name)[0]:
            closure(dep, seen, order)
        order.append(name)

    lines = [f"#v{_AUTOLOAD_VERSION}"]
    kernel = moddir / "kernel"
    for name, path in sorted(idx.items()):
        rel = path.relative_to(kernel).as_posix()
        if not rel.startswith(_AUTOLOAD_DIRS) or (rel.startswith("drivers/net/")
                                                   and rel.count("/") > 2):
            continue
        order: list[str] = []
        closure(name, set(), order)
        files = " ".join(f"{m}={idx[m]}" for m in order)
        keys = {name, name.replace("_", "-")}
        keys |= {a for a in modinfo(name)[1] if ":" not in a}  # not device ids
        for key in sorted(keys):
            if " " not in key:
                lines.append(f"{_glob_regex(key)} {files}")
    text = "\n".join(lines) + "\n"
    cached.write_text(text)
    return text


# The kernel runs /sbin/modprobe from the initramfs (not from the chroot) as
# `modprobe -q -- NAME`; this one looks NAME up in the table above and loads the files
# (host paths under /host) that are not loaded yet.
MODPROBE = r"""#!/bin/busybox sh
for a; do n=$a; done
files=$(/bin/busybox awk -v n="$n" '!/^#/ && n ~ $1 { $1 = ""; print; exit }' /modules/autoload)
[ -n "$files" ] || exit 1
for f in $files; do
    m=${f%%=*}; p=${f#*=}
    [ -e /sys/module/$m ] && continue
    case $p in
        *.xz) /bin/busybox unxz -c /host$p > /tmp/$m.ko && /bin/busybox insmod /tmp/$m.ko
              rm -f /tmp/$m.ko ;;
        *) /bin/busybox insmod /host$p ;;
    esac
done
exit 0
"""


def _cpio(entries: list[tuple[str, int, bytes]]) -> bytes:
    """A newc cpio archive of (path, mode, data); directories have data b""."""
    out = bytearray()
    ino = 1
    for path, mode, data in entries + [("TRAILER!!!", 0, b"")]:
        name = path.encode() + b"\0"
        hdr = "070701" + "".join(f"{v:08X}" for v in (
            ino, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(name), 0))
        out += hdr.encode() + name
        out += b"\0" * (-len(out) % 4)
        out += data
        out += b"\0" * (-len(out) % 4)
        ino += 1
    return bytes(out)


INIT = r"""#!/bin/busybox sh
/bin/busybox mkdir -p /proc /sys /dev /bin /sbin /usr/bin /usr/sbin
/bin/busybox --install -s
rm -f /sbin/modprobe && cp /modules/modprobe /sbin/modprobe && chmod 755 /sbin/modprobe
mkdir -p /tmp
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for m in $(cat /modules/order); do insmod /modules/$m.ko || echo "vmrun: insmod $m failed"; done
mkdir -p /host /rw /newroot
mount -t 9p -o trans=virtio,version=9p2000.L,ro,cache=loose,msize=512000 hostroot /host || { echo "vmrun: 9p root mount failed"; poweroff -f; }
# the writable layer sits on a virtio disk, not tmpfs, so that writes reach the block layer
# (O_DIRECT, block tracepoints: biolatency) as on a real machine
mount -t ext4 /dev/vda /rw 2>/dev/null || mount -t tmpfs -o size=2G tmpfs /rw
mkdir -p /rw/upper /rw/work
mount -t overlay overlay -o lowerdir=/host,upperdir=/rw/upper,workdir=/rw/work /newroot || { echo "vmrun: overlay failed"; poweroff -f; }
# the working directory (a checkout others may edit during the run) without the page cache:
# cache=loose would serve stale sizes and pages of files changed on the host meanwhile
C=$(cat /cwd_path)
if [ -n "$C" ] && [ "$C" != / ]; then
    mkdir -p /cwd /rw/cwd-upper /rw/cwd-work
    mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=512000 cwd /cwd &&
        mount -t overlay overlay -o lowerdir=/cwd,upperdir=/rw/cwd-upper,workdir=/rw/cwd-work /newroot$C ||
        echo "vmrun: $C is served through the cached root"
fi
R=$(cat /results_path)
mkdir -p /newroot$R
mount -t 9p -o trans=virtio,version=9p2000.L,cache=none,msize=512000 results /newroot$R
mount -t proc proc /newroot/proc
mount -t sysfs sys /newroot/sys
mount -t devtmpfs dev /newroot/dev
mkdir -p /newroot/dev/pts /newroot/dev/shm
mount -t devpts devpts /newroot/dev/pts
mount -t tmpfs tmpfs /newroot/dev/shm
mount -t tmpfs tmpfs /newroot/run
mkdir -p /newroot/boot && cp /modules/config /newroot/boot/config-$(uname -r)
mount -t bpf bpf /newroot/sys/fs/bpf
mount -t tracefs tracefs /newroot/sys/kernel/tracing 2>/dev/null
mount -t debugfs debugfs /newroot/sys/kernel/debug 2>/dev/null
mount -t cgroup2 cgroup2 /newroot/sys/fs/cgroup
ip link set lo up
echo "vmrun: running on $(uname -r)"
chroot /newroot /bin/sh $R/run.sh > /newroot$R/output 2>&1
echo $? > /newroot$R/rc
sync
poweroff -f
"""


def build_initramfs(kdir: Path, results_path: str, cwd: str = "") -> bytes:
    busybox = Path("/bin/busybox").read_bytes()
    entries: list[tuple[str, int, bytes]] = [
        ("bin", stat.S_IFDIR | 0o755, b""),
        ("modules", stat.S_IFDIR | 0o755, b""),
        ("bin/busybox", stat.S_IFREG | 0o755, busybox),
        ("init", stat.S_IFREG | 0o755, INIT.encode()),
        ("results_path", stat.S_IFREG | 0o644, results_path.encode()),
        ("cwd_path", stat.S_IFREG | 0o644, cwd.encode()),
    ]
    mods = _module_load_order(kdir)
    for name, data in mods:
        entries.append((f"modules/{name}.ko", stat.S_IFREG | 0o644, data))
    entries.append(("modules/order", stat.S_IFREG | 0o644,
                    " ".join(n for n, _ in mods).encode()))
    entries.append(("modules/autoload", stat.S_IFREG | 0o644, _autoload_table(kdir).encode()))
    entries.append(("modules/modprobe", stat.S_IFREG | 0o755, MODPROBE.encode()))
    # tests read the kernel's config from /boot (Debian's kernels have no /proc/config.gz)
    entries.append(("modules/config", stat.S_IFREG | 0o644, (kdir / "config").read_bytes()))
    return _cpio(entries)


def _kvm_usable() -> bool:
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return os.path.exists("/dev/kvm") and bool(re.search(r"\b(vmx|svm)\b", flags))


# The emulated CPU under TCG. `-cpu max` offers AVX2, and qemu 7.2's emulation of it gives
# numpy's vectorised argsort wrong answers; Westmere and older lack what numpy 2's baseline
# needs (SIGILL on import). SandyBridge has neither problem (numpy stays on its baseline).
TCG_CPU = os.environ.get("COREBPF_VM_CPU", "SandyBridge")
_OPENBLAS_CORES = {"SandyBridge": "SandyBridge", "Nehalem": "Nehalem", "Haswell": "Haswell"}


def _scratch_disk(img: Path, size: int = 8 << 30) -> list[str]:
    """qemu arguments for a sparse ext4 disk (no journal: nothing survives the run anyway),
    or none when mke2fs is missing (the guest then writes to tmpfs)."""
    mke2fs = shutil.which("mke2fs") or shutil.which("mke2fs", path="/usr/sbin:/sbin")
    if not mke2fs:
        return []
    with open(img, "wb") as f:
        f.truncate(size)
    r = subprocess.run([mke2fs, "-q", "-F", "-t", "ext4", "-O", "^has_journal,^metadata_csum",
                        "-E", "nodiscard", str(img)], capture_output=True)
    if r.returncode != 0:
        img.unlink()
        return []
    return ["-drive", f"file={img},if=virtio,format=raw,cache=unsafe"]


_LIVE: set[subprocess.Popen] = set()  # running qemus, killed when we are terminated


def run_in_vm(series: str, command: list[str], *, timeout: float = 1800, memory: str = "4G",
              cwd: str | None = None, env: dict[str, str] | None = None,
              echo: bool = True, smp: int | None = None, cpu: str | None = None,
              stream=None) -> tuple[int, str]:
    """Boot kernel ``series`` and run ``command``; returns (exit code, output).

    ``smp`` vCPUs (default: the host's CPU count), ``cpu`` the TCG CPU model; ``stream``
    (a callable taking text) receives the output while the command runs."""
    ensure_tools()
    kdir = fetch_kernel(series)
    cwd = cwd or os.getcwd()
    env = dict(os.environ if env is None else env)
    for k in list(env):
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", k):
            del env[k]
    env["COREBPF_VM_KERNEL"] = series
    kvm = _kvm_usable()
    # bytecode written in the guest lands in the throw-away overlay, and spares every later
    # interpreter of the run (CLI tests start many) compiling under emulation again
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    if not kvm:
        # an OpenBLAS core type chosen for the host's CPU (AVX2 kernels) is SIGILL on the
        # emulated one: name the emulated model, or let OpenBLAS detect it
        model = (cpu or TCG_CPU).split(",")[0]
        if model in _OPENBLAS_CORES:
            env["OPENBLAS_CORETYPE"] = _OPENBLAS_CORES[model]
        else:
            env.pop("OPENBLAS_CORETYPE", None)
    # how much slower than the host the guest runs, for tests with a time budget
    env.setdefault("COREBPF_VM_SLOWDOWN", "2" if kvm else "20")
    res = Path(tempfile.mkdtemp(prefix="vmrun-", dir="/var/tmp"))
    if "," in str(res):
        raise VMError(f"path with a comma cannot be shared: {res}")
    try:
        script = ["set -e"]
        script += [f"export {k}={shlex.quote(v)}" for k, v in env.items()]
        script += [f"cd {shlex.quote(cwd)}", "set +e", shlex.join(command)]
        (res / "run.sh").write_text("\n".join(script) + "\n")
        (res / "output").touch()
        initrd = res / "initramfs.cpio"
        share_cwd = cwd != "/" and "," not in cwd
        initrd.write_bytes(build_initramfs(kdir, str(res), cwd if share_cwd else ""))
        disk = _scratch_disk(res / "upper.img")
        accel = ["-accel", "kvm", "-cpu", "host"] if kvm else \
            ["-accel", "tcg,thread=multi", "-cpu", cpu or TCG_CPU]
        qemu = ["qemu-system-x86_64", *accel, "-m", memory,
                "-smp", str(smp or os.cpu_count() or 2),
                "-nographic", "-no-reboot", "-nodefaults", "-serial", f"file:{res}/console",
                "-kernel", str(kdir / "vmlinuz"), "-initrd", str(initrd),
                "-append", "console=ttyS0 panic=-1 quiet loglevel=3 "
                           "lsm=lockdown,capability,yama,apparmor,bpf",
                "-virtfs", "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,"
                           "multidevs=remap",
                "-virtfs", f"local,path={res},mount_tag=results,security_model=none",
                *(["-virtfs", f"local,path={cwd},mount_tag=cwd,security_model=none,"
                   "readonly=on,multidevs=remap"] if share_cwd else []),
                "-device", "virtio-rng-pci", *disk]
        t0 = time.monotonic()
        errf = open(res / "qemu.err", "wb")  # a file, not a pipe nobody reads while we wait
        proc = subprocess.Popen(qemu, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=errf)
        errf.close()
        _LIVE.add(proc)
        pending = b""
        with open(res / "output", "rb") as outf:
            def drain(final: bool = False) -> None:
                # whole lines only, so that parallel runs do not interleave mid-line
                nonlocal pending
                pending += outf.read()
                cut = len(pending) if final else pending.rfind(b"\n") + 1
                if cut and stream is not None:
                    stream(pending[:cut].decode(errors="replace"))
                pending = pending[cut:]
            try:
                while True:
                    try:
                        proc.wait(timeout=2)
                        break
                    except subprocess.TimeoutExpired:
                        drain()
                        if time.monotonic() - t0 > timeout:
                            raise VMError(f"kernel {series}: timed out after {timeout:.0f}s")
            finally:
                _LIVE.discard(proc)
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
                drain(final=True)
        err = (res / "qemu.err").read_bytes()
        out = (res / "output").read_text(errors="replace")
        rc_file = res / "rc"
        if not rc_file.exists():
            console = (res / "console").read_text(errors="replace")[-4000:] \
                if (res / "console").exists() else ""
            raise VMError(f"kernel {series}: the guest did not finish "
                          f"(qemu: {err.decode(errors='replace')[-500:]})\n{console}")
        rc = int(rc_file.read_text().strip() or 1)
        if echo:
            print(f"--- kernel {series} ({kdir.name}), {time.monotonic() - t0:.0f}s, exit {rc}")
            print(out, end="")
        return rc, out
    finally:
        shutil.rmtree(res, ignore_errors=True)


def prebuild_test_programs(root: Path) -> int:
    """Compile every tests/progs/*.bpf.c on the host (tests/conftest.py's content-hash cache),
    so that the guest finds them built instead of running clang under emulation."""
    import importlib.util
    spec = importlib.util.spec_from_file_location("_vmrun_conftest", root / "tests" / "conftest.py")
    conftest = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(conftest)
    # this private copy of conftest runs clang quietly: a program that needs another compiler
    # or flags (its test gives them) fails here, and is left to its test
    import functools
    import types
    conftest.subprocess = types.SimpleNamespace(
        run=functools.partial(subprocess.run, capture_output=True))
    names = sorted(p.name[:-len(".bpf.c")] for p in (root / "tests" / "progs").glob("*.bpf.c"))
    built = 0
    for name in names:
        try:
            conftest.build_prog(name)
            built += 1
        except (subprocess.CalledProcessError, OSError):
            print(f"vmrun: tests/progs/{name}.bpf.c does not build with the default flags; "
                  "its test compiles it", flush=True)
    return built


_SUMMARY = re.compile(r"^=*\s*((?:\d+ \w+(?:, )?)+) in ([\d.]+)s", re.M)


def pytest_summary(out: str) -> str:
    """pytest's final counts line, plus its failed/error ids and skip reasons (with -rfEs)."""
    m = None
    for m in _SUMMARY.finditer(out):
        pass
    lines = [m.group(1) if m else "no pytest summary (crashed?)"]
    for ln in out.splitlines():
        if ln.startswith(("FAILED ", "ERROR ", "SKIPPED ")):
            lines.append("  " + ln)
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="vmrun", description=__doc__.split("\n\n")[0])
    p.add_argument("--kernels", default="6.1,6.12", help="comma-separated series")
    p.add_argument("--timeout", type=float, default=1800, help="seconds per VM")
    p.add_argument("--memory", default="4G")
    p.add_argument("--jobs", type=int, default=1,
                   help="VMs at once (each gets CPUs/jobs vCPUs unless --smp)")
    p.add_argument("--smp", type=int, default=None, help="vCPUs per VM")
    p.add_argument("--cpu", default=None, help=f"TCG CPU model (default {TCG_CPU})")
    p.add_argument("--prebuild", action="store_true",
                   help="compile tests/progs/*.bpf.c on the host before booting")
    p.add_argument("--summary", action="store_true",
                   help="finish with pytest's counts, failures and skips per kernel")
    p.add_argument("command", nargs=argparse.REMAINDER)
    a = p.parse_args(argv)
    cmd = a.command[1:] if a.command[:1] == ["--"] else a.command
    if not cmd:
        p.error("no command")
    kernels = [k.strip() for k in a.kernels.split(",") if k.strip()]
    jobs = max(1, min(a.jobs, len(kernels)))
    smp = a.smp or max(1, (os.cpu_count() or 1) // jobs)
    if a.prebuild:
        t0 = time.monotonic()
        n = prebuild_test_programs(Path.cwd())
        print(f"vmrun: {n} test programs built on the host ({time.monotonic() - t0:.0f}s)",
              flush=True)
    for series in kernels:  # download before the clocks start, and once
        fetch_kernel(series)

    def terminate(signum, frame):
        for proc in list(_LIVE):
            proc.kill()
        raise SystemExit(128 + signum)
    signal.signal(signal.SIGTERM, terminate)

    import threading
    lock = threading.Lock()
    results: dict[str, tuple[int, str, float]] = {}

    def one(series: str) -> None:
        prefix = f"[{series}] " if jobs > 1 else ""

        def stream(text: str) -> None:
            with lock:
                for ln in text.splitlines():
                    print(prefix + ln, flush=True)
        t0 = time.monotonic()
        with lock:
            print(f"vmrun: booting {series} ({smp} vCPU, {a.cpu or TCG_CPU})", flush=True)
        try:
            rc, out = run_in_vm(series, cmd, timeout=a.timeout, memory=a.memory, smp=smp,
                                cpu=a.cpu, stream=stream, echo=False)
        except Exception as e:  # noqa: BLE001 — reported for this kernel; the other VM goes on
            rc, out = 1, f"vmrun: {e}"
            stream(out + "\n")
        results[series] = (rc, out, time.monotonic() - t0)

    threads = []
    for series in kernels:
        while sum(t.is_alive() for t in threads) >= jobs:
            time.sleep(1)
        t = threading.Thread(target=one, args=(series,))
        t.start()
        threads.append(t)
    for t in threads:
        t.join()
    worst = 0
    print("\n=== vmrun summary")
    for series in kernels:
        rc, out, took = results[series]
        worst = worst or rc
        print(f"--- kernel {series}: exit {rc}, {took:.0f}s wall")
        if a.summary:
            print(pytest_summary(out))
    return worst


if __name__ == "__main__":
    sys.exit(main())
