"""Users (reference.md §2.4: complete, two operations)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .._endpoints import USERS_LIST, USERS_UPDATE_METADATA
from .._errors import ConfigError
from .._pagination import AsyncPaginator
from .._types import Priority
from ..models import User
from ._base import (
    M,
    Raw,  # noqa: F401 -- named in the quoted raw-view type of the class header
    Resource,
    filters,
)
from ._operations import listing, operation


class Users(Resource[M, "Users[Raw[M]]"]):
    """``client.users``: list and metadata update.

    .. versionadded:: 0.1.0
    """

    @listing
    def list(
        self,
        *,
        email: str | None = None,
        phone: str | None = None,
        metadata: Mapping[str, str] | None = None,
        page_size: int = 100,
        start_page: int = 1,
        prefetch: int = 0,
        priority: Priority | None = None,
    ) -> AsyncPaginator[User]:
        """Every user matching the filters.

        ``metadata`` filters are sent as repeated ``metadata=[field=value]`` parameters, the
        bracket syntax of the docs (the exact wire form is inferred).
        """
        meta = [f"[{k}={v}]" for k, v in (metadata or {}).items()] or None
        params = filters(email=email, phone=phone, metadata=meta)
        return self._list(
            USERS_LIST, params, page_size=page_size, start_page=start_page, prefetch=prefetch, priority=priority
        )

    @operation
    async def update_metadata(self, user_id: str, metadata: Mapping[str, Any]) -> dict[str, Any]:
        """Set a user's custom metadata (``PUT /users/{id}/metadata``); returns the result map."""
        if not isinstance(metadata, Mapping):
            raise ConfigError(f"metadata must be a mapping, got {type(metadata).__name__}")
        envelope = await self._client.call(
            USERS_UPDATE_METADATA,
            path={"id": user_id},
            json={"metadata": dict(metadata)},
        )
        return dict(envelope.data or {})
