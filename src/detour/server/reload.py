"""Config reload: on SIGHUP or when the config file changes, validate, then swap; on error keep the old one."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from pathlib import Path
from typing import Any

log = logging.getLogger("detour.server")
POLL_S = 1.0


class Reloader:
    def __init__(self, state: Any, path: Path | None, catalog_source: str | None, *, discover: bool = True) -> None:
        self.state = state
        self.discover = discover
        self.path = path
        self.catalog_source = catalog_source
        self._stamp = _stamp(path)
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            loop.add_signal_handler(signal.SIGHUP, lambda: asyncio.ensure_future(self.reload("SIGHUP")))
        except (ValueError, RuntimeError, NotImplementedError, AttributeError):
            pass  # not the main thread (tests) or no SIGHUP on this platform: the file watch still works
        if self.path is not None:
            self._task = asyncio.ensure_future(self._watch())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(POLL_S)
            stamp = _stamp(self.path)
            if stamp != self._stamp:
                self._stamp = stamp
                await self.reload("file changed")

    async def reload(self, why: str) -> bool:
        from detour.catalog import load_catalog
        from detour.catalog.errors import CatalogError
        from detour.config import ConfigError, load_config
        try:
            loaded = load_config(self.path)
            catalog = load_catalog(loaded, catalog=self.catalog_source)
        except (ConfigError, CatalogError, OSError) as exc:
            log.error("config reload (%s) failed, keeping the old config: %s", why, exc)
            return False
        if self.discover:
            from detour.catalog.discovery import adiscover_into

            await adiscover_into(catalog, loaded.config)
        router = self.state.router
        await router.reload(loaded.config, catalog)  # keeps health and connections; ends auth cooldowns
        self.state.swap(router, loaded.config, catalog)
        log.info("config reloaded (%s): %s", why, loaded.path or "defaults")
        return True


def _stamp(path: Path | None) -> tuple[float, int] | None:
    if path is None:
        return None
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_mtime, st.st_size)
