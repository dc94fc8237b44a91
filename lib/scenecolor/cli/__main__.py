"""``python -m scenecolor.cli`` runs the command line."""

import sys

from scenecolor.cli import main

sys.exit(main())
