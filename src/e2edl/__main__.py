import sys

from e2edl.cli import main

sys.exit(main())
