"""Run a command under another kernel in qemu, with the host filesystem shared read-only.

    python -m corebpf.testing.vmrun --kernels 6.1,6.12 -- .venv/bin/python -m pytest -m kernel

Debian's 6.1 and 6.12 kernels have what the host's may lack (fentry/fexit, BPF LSM,
kprobes), so those paths can be tested for real. The guest boots a tiny busybox initramfs
that mounts the host's ``/`` over 9p (read-only) under a tmpfs overlay, mounts proc, sysfs,
bpffs, tracefs, debugfs and cgroup2, then chroots into it and runs the command in the
caller's working directory with the caller's environment. Output and the exit code come back
through a second, read-write 9p share.

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
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "corebpf" / "kernels"

# what the guest needs as modules (with their dependencies, resolved from .modinfo)
WANTED_MODULES = ("9pnet_virtio", "9p", "overlay", "virtio_pci")

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
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for m in $(cat /modules/order); do insmod /modules/$m.ko || echo "vmrun: insmod $m failed"; done
mkdir -p /host /rw /newroot
mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=512000 hostroot /host || { echo "vmrun: 9p root mount failed"; poweroff -f; }
mount -t tmpfs -o size=2G tmpfs /rw
mkdir -p /rw/upper /rw/work
mount -t overlay overlay -o lowerdir=/host,upperdir=/rw/upper,workdir=/rw/work /newroot || { echo "vmrun: overlay failed"; poweroff -f; }
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


def build_initramfs(kdir: Path, results_path: str) -> bytes:
    busybox = Path("/bin/busybox").read_bytes()
    entries: list[tuple[str, int, bytes]] = [
        ("bin", stat.S_IFDIR | 0o755, b""),
        ("modules", stat.S_IFDIR | 0o755, b""),
        ("bin/busybox", stat.S_IFREG | 0o755, busybox),
        ("init", stat.S_IFREG | 0o755, INIT.encode()),
        ("results_path", stat.S_IFREG | 0o644, results_path.encode()),
    ]
    mods = _module_load_order(kdir)
    for name, data in mods:
        entries.append((f"modules/{name}.ko", stat.S_IFREG | 0o644, data))
    entries.append(("modules/order", stat.S_IFREG | 0o644,
                    " ".join(n for n, _ in mods).encode()))
    return _cpio(entries)


def _kvm_usable() -> bool:
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return os.path.exists("/dev/kvm") and bool(re.search(r"\b(vmx|svm)\b", flags))


def run_in_vm(series: str, command: list[str], *, timeout: float = 1800, memory: str = "4G",
              cwd: str | None = None, env: dict[str, str] | None = None,
              echo: bool = True) -> tuple[int, str]:
    """Boot kernel ``series`` and run ``command``; returns (exit code, output)."""
    ensure_tools()
    kdir = fetch_kernel(series)
    cwd = cwd or os.getcwd()
    env = dict(os.environ if env is None else env)
    for k in list(env):
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", k):
            del env[k]
    env["COREBPF_VM_KERNEL"] = series
    res = Path(tempfile.mkdtemp(prefix="vmrun-", dir="/var/tmp"))
    if "," in str(res):
        raise VMError(f"path with a comma cannot be shared: {res}")
    try:
        script = ["set -e"]
        script += [f"export {k}={shlex.quote(v)}" for k, v in env.items()]
        script += [f"cd {shlex.quote(cwd)}", "set +e", shlex.join(command)]
        (res / "run.sh").write_text("\n".join(script) + "\n")
        initrd = res / "initramfs.cpio"
        initrd.write_bytes(build_initramfs(kdir, str(res)))
        accel = ["-accel", "kvm", "-cpu", "host"] if _kvm_usable() else \
            ["-accel", "tcg,thread=multi", "-cpu", "max"]
        qemu = ["qemu-system-x86_64", *accel, "-m", memory, "-smp", str(os.cpu_count() or 2),
                "-nographic", "-no-reboot", "-nodefaults", "-serial", f"file:{res}/console",
                "-kernel", str(kdir / "vmlinuz"), "-initrd", str(initrd),
                "-append", "console=ttyS0 panic=-1 quiet loglevel=3 "
                           "lsm=lockdown,capability,yama,apparmor,bpf",
                "-virtfs", "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,"
                           "multidevs=remap",
                "-virtfs", f"local,path={res},mount_tag=results,security_model=none",
                "-device", "virtio-rng-pci"]
        t0 = time.monotonic()
        proc = subprocess.Popen(qemu, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE)
        try:
            _, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            raise VMError(f"kernel {series}: timed out after {timeout:.0f}s")
        out = (res / "output").read_text(errors="replace") if (res / "output").exists() else ""
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


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="vmrun", description=__doc__.split("\n\n")[0])
    p.add_argument("--kernels", default="6.1,6.12", help="comma-separated series")
    p.add_argument("--timeout", type=float, default=1800)
    p.add_argument("--memory", default="4G")
    p.add_argument("command", nargs=argparse.REMAINDER)
    a = p.parse_args(argv)
    cmd = a.command[1:] if a.command[:1] == ["--"] else a.command
    if not cmd:
        p.error("no command")
    worst = 0
    for series in a.kernels.split(","):
        try:
            rc, _ = run_in_vm(series.strip(), cmd, timeout=a.timeout, memory=a.memory)
        except VMError as e:
            print(f"vmrun: {e}", file=sys.stderr)
            rc = 1
        worst = worst or rc
    return worst


if __name__ == "__main__":
    sys.exit(main())
