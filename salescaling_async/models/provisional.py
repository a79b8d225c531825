"""Models of resources whose reference pages are missing: companies, meetings, voice agents.

**Provisional.**  The scopes prove these resources exist, but no field is documented, so
only ``id`` (the API's convention) is typed; everything else the server sends is kept in
``extra``.  Nothing here is invented.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from ._common import extra_field


@attrs.frozen(kw_only=True)
class Company:
    """A company (provisional: fields undocumented, all in ``extra``).

    .. versionadded:: 0.1.0
    """

    id: str | None = None
    extra: Mapping[str, Any] = extra_field()


@attrs.frozen(kw_only=True)
class Meeting:
    """A meeting (provisional: fields undocumented, all in ``extra``).

    .. versionadded:: 0.1.0
    """

    id: str | None = None
    extra: Mapping[str, Any] = extra_field()


@attrs.frozen(kw_only=True)
class VoiceAgent:
    """A voice agent (provisional: fields undocumented, all in ``extra``).

    .. versionadded:: 0.1.0
    """

    id: str | None = None
    extra: Mapping[str, Any] = extra_field()
