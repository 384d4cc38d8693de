"""Client errors → translated Home Assistant errors (for entity actions and services)."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, TypeVar

from homeassistant.exceptions import HomeAssistantError
from phoenyra_client import (
    PhoenyraAuthError,
    PhoenyraConnectionError,
    PhoenyraError,
    PhoenyraForbiddenError,
    PhoenyraInvalidRequestError,
    PhoenyraNotFoundError,
    PhoenyraUnavailableError,
)

from .const import DOMAIN

if TYPE_CHECKING:
    from .coordinator import PhoenyraCoordinator
    from .entity import PhoenyraEntity

_EntityT = TypeVar("_EntityT", bound="PhoenyraEntity")
_P = ParamSpec("_P")


def translate_error(err: PhoenyraError, coordinator: PhoenyraCoordinator, site_id: str) -> HomeAssistantError:
    """The ``HomeAssistantError`` (translation key in strings.json → exceptions) for a refusal."""
    placeholders = {"site": site_id, "error": err.message}
    if isinstance(err, PhoenyraInvalidRequestError):
        key = "invalid_request"
        placeholders["details"] = (
            "; ".join(f"{name}: {reason}" for name, reason in err.fields.items()) or err.message
        )
    elif isinstance(err, PhoenyraForbiddenError):
        key = "forbidden"
    elif isinstance(err, PhoenyraNotFoundError):
        key = "site_not_found"
    elif isinstance(err, PhoenyraUnavailableError):
        key = "site_unavailable"
    elif isinstance(err, PhoenyraAuthError):
        key = "invalid_auth"
        coordinator.config_entry.async_start_reauth(coordinator.hass)
    elif isinstance(err, PhoenyraConnectionError):
        key = "cannot_connect"
        coordinator.last_update_success = False
        coordinator.async_update_listeners()
    else:
        key = "unknown_error"
    return HomeAssistantError(
        f"Phoenyra EMS refused the request for site {site_id}: {err}",
        translation_domain=DOMAIN,
        translation_key=key,
        translation_placeholders=placeholders,
    )


async def call_daemon(
    coordinator: PhoenyraCoordinator, site_id: str, request: Coroutine[Any, Any, Any]
) -> Any:
    """Await ``request``; a client error becomes a translated ``HomeAssistantError``."""
    try:
        return await request
    except PhoenyraError as err:
        raise translate_error(err, coordinator, site_id) from err


def phoenyra_exception_handler(
    func: Callable[Concatenate[_EntityT, _P], Coroutine[Any, Any, Any]],
) -> Callable[Concatenate[_EntityT, _P], Coroutine[Any, Any, None]]:
    """Decorate an entity action: client errors become translated ``HomeAssistantError``s."""

    async def handler(self: _EntityT, /, *args: _P.args, **kwargs: _P.kwargs) -> None:
        try:
            await func(self, *args, **kwargs)
        except PhoenyraError as err:
            raise translate_error(err, self.coordinator, self.site_id) from err

    return handler
