"""The console's screens (one module each); they draw the store and ask the backend, nothing more."""
