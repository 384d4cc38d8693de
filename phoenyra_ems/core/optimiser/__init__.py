"""Receding-horizon optimisation of a site's battery (pure: no I/O)."""
