"""Build the ``phoenyra-client`` distribution and the Home Assistant release zip (``make dist``).

One source of truth: the client's code is ``phoenyra_ems/client/``. This script

1. generates ``build/phoenyra-client/`` = ``clients/python/{pyproject.toml,README.md}`` + ``LICENSE``
   + ``phoenyra_client/`` (the client's modules, ``phoenyra_ems.client`` imports made
   package-relative, nothing else changed; :func:`generate_package` is what the tests compare);
2. builds ``dist/phoenyra_client-<v>-py3-none-any.whl`` and ``dist/phoenyra_client-<v>.tar.gz``
   (``python -m build --no-isolation`` with the interpreter given by ``--python``);
3. writes ``dist/phoenyra.zip``, the HACS release asset (``zip_release`` in hacs.json): the content
   of ``custom_components/phoenyra/`` with the client bundled as ``phoenyra_client/`` inside it and
   ``requirements`` emptied in its manifest, so it installs without the package index.

Usage: ``python scripts/build_client.py [--python PY] [--no-build]``
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SOURCE = REPO / "phoenyra_ems" / "client"
PROJECT = REPO / "clients" / "python"
INTEGRATION = REPO / "custom_components" / "phoenyra"
BUILD = REPO / "build" / "phoenyra-client"
DIST = REPO / "dist"
PACKAGE = "phoenyra_client"
DISTRIBUTION = "phoenyra-client"

_IMPORT = re.compile(r"^(\s*from )phoenyra_ems\.client(\.\w+)?( import )", re.MULTILINE)
# Modules of the daemon package the client shares (standard library only), bundled beside it.
SHARED = {"enums": REPO / "phoenyra_ems" / "enums.py"}
_SHARED_IMPORT = re.compile(r"^(\s*from )phoenyra_ems\.(" + "|".join(SHARED) + r")( import )", re.MULTILINE)


def client_version() -> str:
    text = (SOURCE / "version.py").read_text()
    match = re.search(r'^__version__ = "([^"]+)"$', text, re.MULTILINE)
    if match is None:
        raise SystemExit("phoenyra_ems/client/version.py: no __version__")
    return match.group(1)


def rewrite(source: str) -> str:
    """``from phoenyra_ems.client.x import`` -> ``from .x import`` (likewise the :data:`SHARED`
    modules); any other import of ``phoenyra_ems`` is an error (the client must stand alone)."""
    text = _IMPORT.sub(lambda m: f"{m.group(1)}.{(m.group(2) or '')[1:]}{m.group(3)}", source)
    text = _SHARED_IMPORT.sub(lambda m: f"{m.group(1)}.{m.group(2)}{m.group(3)}", text)
    for line in text.splitlines():
        if re.match(r"\s*(from|import) phoenyra_ems\b", line):
            raise SystemExit(f"the client imports the daemon package: {line.strip()!r}")
    return text


def generate_package() -> dict[str, str]:
    """The generated ``phoenyra_client`` package: file name -> text."""
    files = {p.name: rewrite(p.read_text()) for p in sorted(SOURCE.glob("*.py"))}
    files.update({f"{name}.py": rewrite(path.read_text()) for name, path in SHARED.items()})
    files["py.typed"] = ""
    return files


def write_tree(target: Path) -> None:
    shutil.rmtree(target, ignore_errors=True)
    (target / PACKAGE).mkdir(parents=True)
    for name, text in generate_package().items():
        (target / PACKAGE / name).write_text(text)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(PROJECT / name, target / name)
    shutil.copy2(REPO / "LICENSE", target / "LICENSE")


def release_zip(path: Path) -> None:
    """The HACS release asset: the integration with the client bundled, no requirement left."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for file in sorted(INTEGRATION.rglob("*")):
            if not file.is_file() or "__pycache__" in file.parts:
                continue
            rel = file.relative_to(INTEGRATION).as_posix()
            if rel == "manifest.json":
                manifest = json.loads(file.read_text())
                manifest["requirements"] = []
                zf.writestr(rel, json.dumps(manifest, indent=2) + "\n")
            else:
                zf.write(file, rel)
        for name, text in generate_package().items():
            zf.writestr(f"{PACKAGE}/{name}", text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--python", default=sys.executable, help="interpreter with 'build' and setuptools>=77"
    )
    parser.add_argument("--no-build", action="store_true", help="only generate the tree and the zip")
    args = parser.parse_args()
    version = client_version()
    write_tree(BUILD)
    DIST.mkdir(exist_ok=True)
    for old in DIST.glob("phoenyra_client-*"):
        old.unlink()
    if not args.no_build:
        subprocess.run(
            [args.python, "-m", "build", "--no-isolation", "--outdir", str(DIST), str(BUILD)],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    release_zip(DIST / "phoenyra.zip")
    print(f"{DISTRIBUTION} {version}: {', '.join(sorted(p.name for p in DIST.iterdir()))}")


if __name__ == "__main__":
    main()
