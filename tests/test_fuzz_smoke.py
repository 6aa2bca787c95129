"""A short run of the mutation fuzzer over every reader of untrusted bytes.

`make fuzz` runs the long version (100,000 cases)."""
from pathlib import Path

from corebpf.testing import fuzz

ROOT = Path(__file__).resolve().parent.parent


def test_fuzz_smoke(bpf_prog):
    for name in ("spec_maps", "spec_funcs", "spec_data", "load_core", "btf_kinds"):
        try:
            bpf_prog(name)
        except FileNotFoundError:
            pass
    findings = fuzz.run(2500, seed=7, targets=["elf", "btf", "ext", "codec", "cli"], root=ROOT)
    assert not findings, "\n".join(findings[:10])
    assert sum(fuzz.run.counts.values()) >= 2000
