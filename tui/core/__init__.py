"""The console's headless core: everything but the drawing. Never imports Textual (tested)."""
