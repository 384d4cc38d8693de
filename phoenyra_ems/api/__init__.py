"""The daemon's REST + WebSocket API (aiohttp), under /api/v1."""
