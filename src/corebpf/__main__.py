import sys

from corebpf.cli.main import main

sys.exit(main())
