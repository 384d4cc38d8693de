"""Typed keys of the aiohttp application and requests."""

from __future__ import annotations

from aiohttp import web

from phoenyra_ems.auth.models import Principal

PRINCIPAL = web.RequestKey("principal", Principal)
TOKEN = web.RequestKey("token", str)  # the API token the request was authenticated with
