"""Device adapters: register maps as data, the Modbus driver, SunSpec discovery."""
