"""BTF: the type model, lazy reader, writer/sanitizer, .BTF.ext, CO-RE, C dumper, codecs.

``from corebpf.btf import BTF``; submodules other than the reader load on first use.
"""
from __future__ import annotations

TYPE_CHECKING = False  # typing costs ≈3 ms of start-up; type checkers take this as True
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any

from ..errors import BTFError
from . import types
from .reader import BTF

_LAZY = {
    "BTFExt": "ext", "LineInfo": "ext", "CoreRelo": "ext", "parse_btf_ext": "ext",
    "Codec": "codec", "to_json": "codec",
    "marshal_btf": "marshal", "sanitize": "marshal", "load_btf": "marshal",
    "Builder": "marshal",
}


def __getattr__(name: str) -> Any:
    mod = _LAZY.get(name)
    if mod is None:
        raise AttributeError(f"module 'corebpf.btf' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f".{mod}", __name__), name)
    globals()[name] = value
    return value


__all__ = ["BTF", "BTFError", "types", *_LAZY]
