"""Make the evocane package importable from rule scripts, also inside a conda env or container that has the
dependencies but not the package itself (the repository's src/ is next to scripts/)."""

import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
if str(SRC) not in sys.path:
    sys.path.insert(0, str(SRC))
