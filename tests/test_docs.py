"""The Python examples in README.md and docs/*.md are real: each page's ```python blocks run,
in order, in one namespace per page (as root, against this kernel)."""
from __future__ import annotations

import contextlib
import io
import os
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md"] + sorted(p for p in (ROOT / "docs").glob("*.md")
                                      if p.name != "architecture.md")
FENCE = re.compile(r"^```python[ \t]*\n(.*?)^```[ \t]*$", re.M | re.S)


def blocks(page: Path) -> list[tuple[int, str]]:
    text = page.read_text()
    return [(text.count("\n", 0, m.start()) + 2, m.group(1)) for m in FENCE.finditer(text)]


def test_every_concept_has_a_page():
    names = {p.name for p in PAGES}
    assert {"objects-and-maps.md", "core.md", "hooks.md", "events.md", "cli.md"} <= names


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_page_links_resolve(page):
    for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", page.read_text()):
        if "://" in target:
            continue
        assert (page.parent / target).exists(), f"{page.name}: broken link {target}"


@pytest.fixture
def kernel_btf():
    """The running kernel's BTF stays cached (and open) for the process, and so does
    matplotlib's default font (an open file behind its font cache) once a plot is drawn:
    open both before the fd-leak check starts, whichever test drew first."""
    from corebpf.btf import BTF
    BTF.kernel()
    try:
        from matplotlib import font_manager
    except ImportError:
        return
    font_manager.get_font(font_manager.findfont(font_manager.FontProperties()))


@pytest.mark.kernel
@pytest.mark.parametrize("page", [p for p in PAGES if blocks(p)], ids=lambda p: p.name)
def test_examples_run(page, tmp_path, kernel_btf, no_fd_leak):
    ns: dict = {"__name__": f"docs_{page.stem}"}
    cwd = os.getcwd()
    os.chdir(tmp_path)  # examples may write files
    try:
        for line, code in blocks(page):
            out = io.StringIO()
            try:
                with contextlib.redirect_stdout(out):
                    exec(compile(code, f"{page.name}:{line}", "exec"), ns)
            except Exception as e:
                raise AssertionError(f"{page.name}, example at line {line} failed: "
                                     f"{type(e).__name__}: {e}\n--- output:\n"
                                     f"{out.getvalue()}") from e
    finally:
        os.chdir(cwd)
        import gc
        ns.clear()
        gc.collect()
