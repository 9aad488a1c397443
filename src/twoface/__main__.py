import sys

from twoface.cli import main

sys.exit(main())
