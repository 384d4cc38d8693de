"""The phoenyra-client distribution (scripts/build_client.py, ``make dist``): one source of truth.

The built wheel/sdist/zip are compared with :func:`generate_package` by tests_ha/install (after
``make dist``); here: the generated package stands alone, and the manifest requires its version.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parents[1]


def _build_client() -> ModuleType:
    spec = importlib.util.spec_from_file_location("build_client", REPO / "scripts" / "build_client.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_generated_client_imports_without_the_daemon_package(tmp_path: Path) -> None:
    build_client = _build_client()
    build_client.write_tree(tmp_path)
    files = build_client.generate_package()
    shared = {f"{name}.py" for name in build_client.SHARED}
    own = {p.name for p in (REPO / "phoenyra_ems" / "client").glob("*.py")}
    assert set(files) == own | {"py.typed"} | shared
    assert all(
        "phoenyra_ems" not in line
        for text in files.values()
        for line in text.splitlines()
        if line.lstrip().startswith(("import ", "from "))
    )
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); import phoenyra_client as c; "
        "bad = ('phoenyra_ems', 'tui', 'yaml', 'voluptuous'); "
        "assert not [m for m in sys.modules if m.split('.')[0] in bad], "
        "sorted(sys.modules); print(c.__version__, c.PhoenyraClient.__module__)"
    )
    out = subprocess.run(
        [sys.executable, "-I", "-c", code, str(tmp_path)],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
    )
    version, module = out.stdout.split()
    assert version == build_client.client_version()
    assert module == "phoenyra_client.client"


def test_manifest_requires_exactly_this_client_version() -> None:
    build_client = _build_client()
    manifest = json.loads((REPO / "custom_components" / "phoenyra" / "manifest.json").read_text())
    assert manifest["requirements"] == [f"phoenyra-client=={build_client.client_version()}"]


def test_rewrite_refuses_other_daemon_imports() -> None:
    build_client = _build_client()
    assert build_client.rewrite("from phoenyra_ems.client.models import X\n") == "from .models import X\n"
    assert build_client.rewrite("from phoenyra_ems.client import X\n") == "from . import X\n"
    assert build_client.rewrite("from phoenyra_ems.enums import X\n") == "from .enums import X\n"
    try:
        build_client.rewrite("from phoenyra_ems.config import load\n")
    except SystemExit:
        pass
    else:
        raise AssertionError("an import of the daemon package must stop the build")
