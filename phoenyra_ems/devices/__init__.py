"""Device adapters: the Modbus TCP driver, the register codec, SunSpec discovery, the sensor poller
(the register maps themselves are data: :mod:`phoenyra_ems.profiles`)."""
