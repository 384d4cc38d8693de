"""Device profiles as data: register maps in ``*.yaml`` beside this file (docs/device-profiles.md),
their model (:mod:`.model`), the loader that validates them (:mod:`.loader`) and the list of what
ships (:mod:`.catalog`). Standard library and PyYAML only: the configuration checks a site's profile
with it, the drivers (``phoenyra_ems.devices``) and the simulator read registers from it."""
