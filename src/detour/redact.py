"""Keep secrets out of logs: a logging filter that masks every configured key wherever it appears."""

from __future__ import annotations

import logging
from collections.abc import Iterable

MASK = "***"


class RedactSecrets(logging.Filter):
    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self.secrets = sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True)

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secrets:
            return True
        text = record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        masked = _mask(text, self.secrets)
        if masked != text:
            record.msg, record.args = masked, None
        if record.exc_text:
            record.exc_text = _mask(record.exc_text, self.secrets)
        return True


def _mask(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    return text


def config_secrets(config: object, env: dict[str, str] | None = None) -> list[str]:
    """Every key the config can send or accept: gateway keys, provider keys, and the env vars they come from."""
    import os

    env = dict(os.environ if env is None else env)
    out = list(getattr(config.server, "api_keys", []))  # type: ignore[attr-defined]  # config is duck-typed here (a Config or a test stand-in)
    for provider in getattr(config, "provider", {}).values():
        out += provider.api_keys
    out += [value for name, value in env.items() if name.endswith(("_API_KEY", "_TOKEN", "_SECRET"))]
    return out


def install(secrets: Iterable[str]) -> RedactSecrets:
    """Attach the filter to every handler of the root logger (and to the root for handlers added later)."""
    filt = RedactSecrets(secrets)
    root = logging.getLogger()
    for handler in root.handlers:
        handler.addFilter(filt)
    root.addFilter(filt)
    return filt
