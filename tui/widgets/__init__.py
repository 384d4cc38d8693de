"""Textual widgets of the console; each draws one part of the store and holds no logic."""
