"""``python -m sandboxes``: start the vendor emulators (see ``sandboxes.cli``)."""

import sys

from sandboxes.cli import main

sys.exit(main())
