"""Every process works with the whole model registry, whatever it imported itself."""

from __future__ import annotations

import importlib
import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import leitstand
from leitstand.db.base import Base

REPO = Path(__file__).resolve().parents[2]
FRESH_PROCESS = (
    "import json; from leitstand.db.base import Base; "
    "from leitstand.db.engine import make_engine; from leitstand.db.models import make_session_factory; "
    "make_session_factory(make_engine('sqlite://')); print(json.dumps(sorted(Base.metadata.tables)))"
)


def every_table_of_the_package() -> set[str]:
    for module in pkgutil.walk_packages(leitstand.__path__, "leitstand."):
        if ".migrations" not in module.name:
            importlib.import_module(module.name)
    return set(Base.metadata.tables)


def test_a_fresh_process_gets_every_table_with_its_first_session_factory() -> None:
    # A fresh interpreter: this test process has long imported everything.
    done = subprocess.run([sys.executable, "-c", FRESH_PROCESS], cwd=REPO, capture_output=True, text=True,
                          check=True, timeout=60)

    assert set(json.loads(done.stdout)) == every_table_of_the_package()
