"""The client's own version: the ``phoenyra-client`` distribution (``make dist``) carries it.

Bump it with every change to ``phoenyra_ems/client/`` that is released; the Home Assistant manifest
requires exactly this version (``phoenyra-client==<version>``, checked by a test).
"""

__version__ = "0.1.0"
