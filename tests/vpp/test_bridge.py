"""VEN resource names onto the fleet: one site's name is that site, a shared name is the whole fleet."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from phoenyra_ems.config.vpp_model import VppConfig
from phoenyra_ems.vpp_bridge import mapping_errors, resource_sites
from tests.daemon_fixtures import two_site_config


def test_a_shared_site_id_is_the_fleet_only_when_every_vpp_site_shares_it(tmp_path: Path) -> None:
    sites = two_site_config(tmp_path).sites
    own = {i: replace(s, vpp=VppConfig(enabled=True)) for i, s in sites.items()}
    assert resource_sites(own) == {"wien": ("wien",), "linz": ("linz",)} and not mapping_errors(own)

    shared = {i: replace(s, vpp=VppConfig(enabled=True, site_id="pool")) for i, s in sites.items()}
    assert resource_sites(shared) == {"pool": ("wien", "linz")} and not mapping_errors(shared)

    third = replace(sites["wien"], site_id="graz", vpp=VppConfig(enabled=True))
    partial = {**shared, "graz": third}  # "pool" is not every VPP site: refused, naming them
    errors = mapping_errors(partial)
    assert len(errors) == 1 and "'pool'" in errors[0] and "graz" in errors[0]

    off = {**own, "linz": replace(sites["linz"], vpp=VppConfig(enabled=False))}
    assert resource_sites(off) == {"wien": ("wien",)}
