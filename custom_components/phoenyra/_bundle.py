"""Make ``phoenyra_client`` importable: the installed distribution, or the copy a release zip bundles.

The manifest requires ``phoenyra-client==<version>`` (installed by Home Assistant with pip). Until
that distribution is on the package index, the release zip (``make dist`` -> ``dist/phoenyra.zip``)
carries the client as ``custom_components/phoenyra/phoenyra_client/`` and an empty ``requirements``
list; this module then registers that copy under the name ``phoenyra_client``. Imported first by the
package's ``__init__``, so every other module can simply ``from phoenyra_client import …``.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys

if importlib.util.find_spec("phoenyra_client") is None:  # pragma: no cover - release zip only
    _prefix = f"{__package__}.phoenyra_client"
    importlib.import_module(_prefix)
    # the package and its submodules under their public names: one copy of every class
    for _name, _module in list(sys.modules.items()):
        if _name == _prefix or _name.startswith(f"{_prefix}."):
            sys.modules["phoenyra_client" + _name[len(_prefix) :]] = _module
