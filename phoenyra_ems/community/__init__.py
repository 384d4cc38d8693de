"""Energy community: meters (history, CSV), the signed ledger, settlement reports, the commands."""
