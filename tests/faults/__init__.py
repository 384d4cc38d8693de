"""Fault injection against real processes: simulator, fault device, daemon, broker, a tiny disk."""
