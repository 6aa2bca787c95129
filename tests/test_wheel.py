"""corebpf builds as a pure-Python wheel that works in a clean venv with no other package."""
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.kernel
def test_pure_python_wheel_in_clean_venv(tmp_path, bpf_prog):
    obj = bpf_prog("rel_counter")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps",
                    "--no-build-isolation", str(ROOT), "-w", str(tmp_path / "dist")],
                   check=True, capture_output=True)
    wheels = list((tmp_path / "dist").glob("corebpf-*.whl"))
    assert len(wheels) == 1 and wheels[0].name.endswith("-py3-none-any.whl"), wheels
    names = zipfile.ZipFile(wheels[0]).namelist()
    assert "corebpf/py.typed" in names
    assert any(n.startswith("corebpf/tools/") and n.endswith(".bpf.o") for n in names)
    venv = tmp_path / "venv"
    subprocess.run(["/usr/bin/python3" if Path("/usr/bin/python3").exists() else sys.executable,
                    "-m", "venv", "--without-pip", str(venv)], check=True)
    # install by unpacking: no pip, no index, no dependency resolution — nothing else comes in
    site = next((venv / "lib").glob("python3*/site-packages"))
    zipfile.ZipFile(wheels[0]).extractall(site)
    code = ("import corebpf, os, sys\n"
            "assert 'numpy' not in sys.modules and 'rich' not in sys.modules\n"
            f"with corebpf.load({str(obj)!r}) as o:\n"
            "    o.attach_all(); os.getppid()\n"
            "    print(sum(o.maps['counts'].values()) >= 1)\n")
    r = subprocess.run([str(venv / "bin" / "python"), "-c", code], capture_output=True,
                       text=True, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "True"
