"""Pure decision logic: no I/O, no clocks, no asyncio. Everything here is a function of its inputs."""
