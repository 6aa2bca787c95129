"""kprobe.multi, uprobe.multi and struct_ops under Debian's kernels (qemu, via
tests/test_kernel_matrix.py): the host tests themselves, whose expectations follow the
kernel — on 6.12 everything attaches and fires; on 6.1 kprobe.multi is refused (no
CONFIG_FPROBE), uprobe.multi too (6.6+) and so are struct_ops links (6.4+), while the
SEC(".struct_ops") congestion control registers and runs. (The rest of those files,
e.g. the glob resolution against tracefs, runs under `make test-kernels`; CI keeps to
these for time.)"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from test_link_multi import (  # noqa: E402,F401 - collected here
    _kernel_btf_cached, hits, obj, test_kprobe_multi_errors_name_program_and_symbol,
    test_kprobe_multi_sections,
    test_kprobe_multi_symbols_cookies_addresses, test_uprobe_multi_cookies_offsets_pid,
    test_uretprobe_multi_and_section_glob)
from test_link_struct_ops import (  # noqa: E402,F401
    test_legacy_map_registered_runs_and_unregisters, test_link_map_registered_updated_detached)
