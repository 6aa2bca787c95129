"""`corebpf map ...` against maps we create, compared with what bpftool reports."""
from __future__ import annotations

import ctypes
import json
import os
import subprocess

import pytest

from corebpf import _sys
from corebpf.cli.main import main

HASH, ARRAY, PERCPU_ARRAY, RINGBUF = 1, 2, 6, 27


def cli(capsys, *argv: str) -> str:
    rc = main(list(argv))
    outerr = capsys.readouterr()
    assert rc == 0, outerr.err
    return outerr.out


def bpftool_json(*argv: str):
    r = subprocess.run(["bpftool", "-j", *argv], capture_output=True, text=True, check=True)
    return json.loads(r.stdout)


@pytest.fixture
def hmap():
    fd = _sys.map_create(HASH, 4, 8, 16, map_name="h_cli_hash")
    for k, v in ((1, 10), (2, 20), (300, 3000)):
        _sys.map_update_elem(fd, ctypes.create_string_buffer(k.to_bytes(4, "little"), 4),
                             ctypes.create_string_buffer(v.to_bytes(8, "little"), 8))
    yield fd, _sys.map_info(fd)["id"]
    fd.close()


@pytest.mark.kernel
def test_map_show_matches_bpftool(capsys, hmap, bpftool):
    _, mid = hmap
    mine = json.loads(cli(capsys, "map", "show", str(mid), "-j"))
    ref = bpftool_json("map", "show", "id", str(mid))
    for k in ("id", "type", "name", "flags", "bytes_key", "bytes_value", "max_entries",
              "bytes_memlock", "frozen"):
        assert mine.get(k) == ref.get(k), k


@pytest.mark.kernel
def test_map_list_matches_bpftool(capsys, hmap, bpftool):
    mine = {m["id"]: (m["name"], m["type"], m["max_entries"])
            for m in json.loads(cli(capsys, "map", "list", "--json"))}
    ref = {m["id"]: (m.get("name", ""), m["type"], m["max_entries"])
           for m in bpftool_json("map", "list")}
    common = set(mine) & set(ref)
    assert hmap[1] in common
    assert all(mine[i] == ref[i] for i in common)


@pytest.mark.kernel
def test_map_dump_matches_bpftool(capsys, hmap, bpftool, no_fd_leak):
    _, mid = hmap
    mine = json.loads(cli(capsys, "map", "dump", str(mid), "-j"))
    ref = bpftool_json("map", "dump", "id", str(mid))
    as_set = lambda es: {(tuple(e["key"]), tuple(e["value"])) for e in es}  # noqa: E731
    assert as_set(mine) == as_set(ref)
    human = cli(capsys, "map", "dump", str(mid))
    assert "key: 2c 01 00 00  value: b8 0b 00 00 00 00 00 00" in human
    assert "Found 3 elements" in human


@pytest.mark.kernel
def test_map_lookup_update_delete(capsys, hmap, bpftool, no_fd_leak):
    _, mid = hmap
    e = json.loads(cli(capsys, "map", "lookup", str(mid), "300", "-j"))
    assert e["value"] == [f"0x{b:02x}" for b in (3000).to_bytes(8, "little")]
    cli(capsys, "map", "update", str(mid), "hex", "07000000", "value", "0x2a", "0", "0", "0",
        "0", "0", "0", "0")
    ref = bpftool_json("map", "lookup", "id", str(mid), "key", "7", "0", "0", "0")
    assert ref["value"] == ["0x2a"] + ["0x00"] * 7
    cli(capsys, "map", "update", str(mid), "7", "value", "43", "--flags", "exist")
    assert json.loads(cli(capsys, "map", "lookup", str(mid), "7", "-j"))["value"][0] == "0x2b"
    cli(capsys, "map", "delete", str(mid), "7")
    assert main(["map", "lookup", str(mid), "7"]) == 1
    assert "not found" in capsys.readouterr().err
    assert main(["map", "update", str(mid), "8", "value", "1", "--flags", "exist"]) == 1
    capsys.readouterr()


@pytest.mark.kernel
def test_map_bad_input(capsys, hmap, no_fd_leak):
    _, mid = hmap
    assert main(["map", "lookup", str(mid), "1", "2"]) == 1          # 2 bytes for a 4-byte key
    assert "got 2 bytes" in capsys.readouterr().err
    assert main(["map", "lookup", str(mid), "zz"]) == 1
    assert "not a number" in capsys.readouterr().err
    assert main(["map", "update", str(mid), "1", "2", "3"]) == 1
    assert "value" in capsys.readouterr().err
    cli(capsys, "map", "update", str(mid), "9", "99")          # KEY VALUE, one token each
    e = json.loads(cli(capsys, "map", "lookup", str(mid), "9", "-j"))
    assert e["value"][0] == "0x63"
    assert main(["map", "dump", "99999999"]) == 1
    capsys.readouterr()


@pytest.mark.kernel
def test_percpu_dump(capsys, bpftool):
    with _sys.map_create(PERCPU_ARRAY, 4, 4, 1, map_name="h_cli_pcpu") as fd:
        ncpu = _sys.possible_cpus()
        vals = b"".join((c + 1).to_bytes(8, "little") for c in range(ncpu))
        _sys.map_update_elem(fd, ctypes.create_string_buffer(4),
                             ctypes.create_string_buffer(vals, len(vals)))
        mid = _sys.map_info(fd)["id"]
        mine = json.loads(cli(capsys, "map", "dump", str(mid), "-j"))
        ref = bpftool_json("map", "dump", "id", str(mid))
    assert [v["value"] for v in mine[0]["values"]] == [v["value"] for v in ref[0]["values"]]


@pytest.mark.kernel
def test_map_pin_and_open_by_path(capsys, hmap):
    _, mid = hmap
    path = f"/sys/fs/bpf/h_cli_map_{os.getpid()}"
    try:
        cli(capsys, "map", "pin", str(mid), path)
        assert json.loads(cli(capsys, "map", "show", path, "-j"))["id"] == mid
        shown = json.loads(cli(capsys, "map", "show", str(mid), "-j", "--bpffs"))
        assert shown["pinned"] == [path]
        assert f"\tpinned {path}" in cli(capsys, "map", "list", "-f")
        assert json.loads(cli(capsys, "map", "show", "h_cli_hash", "-j"))["id"] == mid
    finally:
        if os.path.exists(path):
            os.unlink(path)


@pytest.mark.kernel
def test_ringbuf_has_no_keys(capsys):
    with _sys.map_create(RINGBUF, 0, 0, 4096, map_name="h_cli_rb") as fd:
        mid = _sys.map_info(fd)["id"]
        assert main(["map", "dump", str(mid)]) == 1
        assert "no keys" in capsys.readouterr().err


@pytest.mark.kernel
def test_btf_formatted_values(capsys, bpf_prog, bpftool):
    """Maps of a clang-built object have BTF: dump shows decoded keys and values."""
    import corebpf
    try:
        obj = corebpf.load(bpf_prog("load_basic"))
    except Exception as e:  # noqa: BLE001
        pytest.skip(f"corebpf.load of load_basic not working yet: {e}")
    with obj:
        for name in obj.maps:
            mid = _sys.map_info(obj.map_fd(name))["id"]
            info = _sys.map_info(obj.map_fd(name))
            if info["btf_value_type_id"] and info["type"] in (HASH, ARRAY):
                break
        else:
            pytest.skip("load_basic has no BTF-typed hash/array map")
        mine = json.loads(cli(capsys, "map", "dump", str(mid), "-j"))
        ref = bpftool_json("map", "dump", "id", str(mid))
    assert {tuple(e["key"]) for e in mine} == {tuple(e["key"]) for e in ref}
    try:
        import corebpf.btf.codec  # noqa: F401
    except ImportError:
        return  # formatted values come with the BTF codec
    assert all("formatted" in e for e in mine)
    assert [e["formatted"] for e in mine] == [e["formatted"] for e in ref]


@pytest.mark.kernel
def test_struct_keys_and_values_through_btf(capsys, bpf_prog, bpftool):
    """JSON in, BTF-formatted out: the same "formatted" bpftool shows."""
    import corebpf
    with corebpf.load(bpf_prog("cli_typed")) as obj:
        mid = _sys.map_info(obj.map_fd("stats"))["id"]
        key = '{"pid": 7, "comm": "bash"}'
        cli(capsys, "map", "update", str(mid), key, "value",
            '{"calls": 5, "last_ret": -2, "flags": [1, 2]}')
        e = json.loads(cli(capsys, "map", "lookup", str(mid), key, "-j"))
        assert e["formatted"] == {"key": {"pid": 7, "comm": "bash"},
                                  "value": {"calls": 5, "last_ret": -2, "flags": [1, 2]}}
        mine = json.loads(cli(capsys, "map", "dump", str(mid), "-j"))
        ref = bpftool_json("map", "dump", "id", str(mid))
        assert mine == ref
        human = cli(capsys, "map", "dump", str(mid))
        assert 'key: {"pid": 7, "comm": "bash"}  value: {"calls": 5, "last_ret": -2' in human
        assert main(["map", "update", str(mid), '{"pid": "x"}', "value", "1"]) == 1
        assert "key" in capsys.readouterr().err
        cli(capsys, "map", "delete", str(mid), key)
        assert json.loads(cli(capsys, "map", "dump", str(mid), "-j")) == []
