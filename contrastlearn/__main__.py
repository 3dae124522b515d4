import sys

from contrastlearn.cli import main

sys.exit(main())
