"""A small OpenADR 3.0.1 VTN: the subset the VEN uses, for tests and ``phoenyra-ems demo --vpp``."""

from phoenyra_ems.vpp.vtn.server import TestVtn, VtnClient

__all__ = ["TestVtn", "VtnClient"]
