"""perf events: the carrier of tracepoint/kprobe/uprobe attachments, and sampling programs.

``attach_perf_event(prog, ...)`` opens one sampling event per CPU (software clock by default:
this machine has no hardware PMU) and runs a ``perf_event`` program on each sample.
"""
from __future__ import annotations

import struct
TYPE_CHECKING = False  # typing costs ≈3 ms of start-up; type checkers take this as True
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, Iterable

from ..errors import AttachError, KernelError
from . import _kernel as K
from .base import Link, fdnum

BPF_PERF_EVENT = 41  # enum bpf_attach_type

# perf_event_attr.type
PERF_TYPE_HARDWARE = 0
PERF_TYPE_SOFTWARE = 1
PERF_TYPE_TRACEPOINT = 2
# software configs
PERF_COUNT_SW_CPU_CLOCK = 0
PERF_COUNT_SW_TASK_CLOCK = 1
PERF_COUNT_SW_PAGE_FAULTS = 2
PERF_COUNT_SW_CONTEXT_SWITCHES = 3

SOFTWARE_EVENTS = {"cpu-clock": 0, "task-clock": 1, "page-faults": 2,
                   "context-switches": 3, "cpu-migrations": 4, "minor-faults": 5,
                   "major-faults": 6, "alignment-faults": 7, "emulation-faults": 8,
                   "dummy": 9, "bpf-output": 10}
HARDWARE_EVENTS = {"cpu-cycles": 0, "instructions": 1, "cache-references": 2,
                   "cache-misses": 3, "branch-instructions": 4, "branch-misses": 5}


def attach_perf_fd(program: Any, pfd: int, hook: str, target: Any, cookie: int = 0,
                   owned: list[int] | None = None, use_link: bool | None = None) -> Link:
    """Attach ``program`` to the open perf event ``pfd`` (taken over by the returned Link).

    Prefers a perf link (BPF_LINK_CREATE, Linux 5.15+) and falls back to
    PERF_EVENT_IOC_SET_BPF + ENABLE, where closing the perf event is the detach
    (``use_link=False`` forces the fallback; ``True`` refuses it).
    """
    pfd_owned = [pfd, *(owned or [])]
    try:
        if use_link is False:
            raise K.kernel_error("link_create", 95)
        lfd = K.link_create(fdnum(program), pfd, BPF_PERF_EVENT, 0, struct.pack("<Q", cookie))
    except KernelError as e:
        if use_link or e.errno not in (22, 95, 524):  # EINVAL/EOPNOTSUPP: no perf links
            for fd in pfd_owned:
                K.fd_close(fd)
            raise AttachError(str(e), hook=hook, target=str(target), cause=e) from e
        if cookie:
            for fd in pfd_owned:
                K.fd_close(fd)
            raise AttachError("BPF cookies need perf links (Linux 5.15+)", hook=hook,
                              target=str(target), cause=e) from e
        try:
            K.ioctl(pfd, K.PERF_EVENT_IOC_SET_BPF, fdnum(program), "PERF_EVENT_IOC_SET_BPF")
            K.ioctl(pfd, K.PERF_EVENT_IOC_ENABLE, 0, "PERF_EVENT_IOC_ENABLE")
        except KernelError as e2:
            for fd in pfd_owned:
                K.fd_close(fd)
            raise AttachError(str(e2), hook=hook, target=str(target), cause=e2) from e2
        return Link(None, program, hook, target, owned=pfd_owned)
    # The perf link holds its own reference to the perf event: close ours now (one fd
    # fewer per link, and a single, shorter teardown when the link goes).
    K.fd_close(pfd)
    return Link(lfd, program, hook, target, owned=pfd_owned[1:])


def attach_tracefs_probe(program: Any, kind: str, ev: str, probe: str, retprobe: bool,
                         hook: str, target: Any, cookie: int = 0,
                         pid: int | None = None) -> Link:
    """Attach through a legacy tracefs probe event (kernels without the ``kind`` PMU):
    create the event ``ev`` (``kind`` = ``kprobe``/``uprobe``, ``probe`` = what follows
    the event name in ``<kind>_events``), open its tracepoint as a perf event and attach.
    The event is removed again on failure and when the link closes."""
    root = K.tracefs()
    spec = f"{'r' if retprobe else 'p'}:{kind}s/{ev} {probe}"
    try:
        K.tracefs_append(f"{root}/{kind}_events", spec)
        with open(f"{root}/events/{kind}s/{ev}/id") as f:
            tid = int(f.read())
    except OSError as e:
        raise AttachError(f"cannot create {kind} event: {e}", hook=hook, target=target,
                          cause=e) from e

    def remove() -> None:
        try:
            K.tracefs_append(f"{root}/{kind}_events", f"-:{kind}s/{ev}")
        except OSError:
            pass
    try:
        pfd = K.perf_event_open(2, tid, pid=-1 if pid is None else pid,
                                cpu=0 if pid is None else -1, sample_period=1, wakeup_events=1)
        link = attach_perf_fd(program, pfd, hook, target, cookie)
    except BaseException:
        remove()
        raise
    link._after = remove  # the event can go once no perf event uses it
    return link


class PerfEventLinks(Link):
    """Several per-CPU attachments acting as one link (``links`` holds them)."""

    __slots__ = ("links",)

    def __init__(self, links: list[Link], program: Any, hook: str, target: Any) -> None:
        super().__init__(None, program, hook, target)
        self.links = links

    def close(self) -> None:
        links, self.links = getattr(self, "links", []), []
        for ln in links:
            ln.close()

    @property
    def closed(self) -> bool:
        return not getattr(self, "links", None)

    def detach(self) -> None:
        for ln in getattr(self, "links", []):
            ln.detach()
        self.close()

    def pin(self, path: str) -> None:
        raise AttachError("a per-CPU perf_event attachment is several links: pin "
                          ".links[i] one by one", hook=self.hook)

    @property
    def fd(self) -> int:
        return self.links[0].fd

    def info(self):  # type: ignore[override]
        return self.links[0].info()

    def update(self, program: Any, old_program: Any = None) -> None:
        for ln in self.links:
            ln.update(program, old_program)
        self.program = program


def attach_perf_event(program: Any, *, event: str | int = "cpu-clock",
                      type: int | None = None, sample_period: int = 0,
                      sample_freq: int = 0, cpus: Iterable[int] | None = None,
                      pid: int = -1, cookie: int = 0) -> Link:
    """Run a ``perf_event`` program on samples of ``event`` on every CPU (or ``cpus``).

    ``event`` is a software/hardware event name (``"cpu-clock"``, ``"page-faults"``, ...) or a
    config number with ``type``. Give ``sample_freq`` (Hz) or ``sample_period`` (events per
    sample; default 1 kHz frequency). Returns one Link closing every per-CPU event.
    Example: ``attach_perf_event(prog, sample_freq=99)``. Needs Linux 4.9+.
    """
    if isinstance(event, str):
        if event in SOFTWARE_EVENTS:
            etype, config = PERF_TYPE_SOFTWARE, SOFTWARE_EVENTS[event]
        elif event in HARDWARE_EVENTS:
            etype, config = PERF_TYPE_HARDWARE, HARDWARE_EVENTS[event]
        else:
            raise AttachError(f"unknown perf event {event!r}; known: "
                              f"{', '.join([*SOFTWARE_EVENTS, *HARDWARE_EVENTS])}",
                              hook="perf_event")
    else:
        etype, config = (PERF_TYPE_SOFTWARE if type is None else type), int(event)
    if type is not None:
        etype = type
    if sample_period and sample_freq:
        raise AttachError("give sample_period or sample_freq, not both", hook="perf_event")
    period = {"sample_period": sample_period} if sample_period else \
        {"sample_freq": sample_freq or 1000}
    cpu_list = list(cpus) if cpus is not None else _online_cpus()
    links: list[Link] = []
    try:
        for cpu in cpu_list:
            try:
                pfd = K.perf_event_open(etype, config, pid=pid, cpu=cpu, **period)
            except KernelError as e:
                hint = (" (no hardware PMU here: use a software event such as cpu-clock)"
                        if etype == PERF_TYPE_HARDWARE else "")
                raise AttachError(f"perf_event_open on CPU {cpu}: {e}{hint}",
                                  hook="perf_event", target=str(event), cause=e) from e
            links.append(attach_perf_fd(program, pfd, "perf_event", f"{event}@cpu{cpu}",
                                        cookie))
    except BaseException:
        for ln in links:
            ln.close()
        raise
    return PerfEventLinks(links, program, "perf_event", event)


def _online_cpus() -> list[int]:
    try:
        from .. import _sys
        return list(_sys.online_cpus())
    except (ImportError, AttributeError):
        pass
    with open("/sys/devices/system/cpu/online") as f:
        text = f.read().strip()
    cpus: list[int] = []
    for part in text.split(","):
        if "-" in part:
            a, b = part.split("-")
            cpus.extend(range(int(a), int(b) + 1))
        elif part:
            cpus.append(int(part))
    return cpus


__all__ = ["attach_perf_event", "attach_perf_fd", "PerfEventLinks"]
