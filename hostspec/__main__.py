import sys

from hostspec.commands.cli import main

sys.exit(main())
