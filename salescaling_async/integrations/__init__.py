"""Framework integrations: ``integrations.aiohttp`` and ``integrations.fastapi`` (extra ``fastapi``)."""
