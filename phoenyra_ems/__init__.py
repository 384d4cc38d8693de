"""Phoenyra EMS: energy management for battery storage, one daemon for many sites."""

__version__ = "0.1.0"
