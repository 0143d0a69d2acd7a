from __future__ import annotations

import logging

from detour.redact import RedactSecrets


def test_filter_masks_keys_in_messages_args_and_tracebacks(caplog):
    logger = logging.getLogger("detour.test.redact")
    handler = logging.Handler()
    seen: list[str] = []
    handler.emit = lambda record: seen.append(record.getMessage() + (record.exc_text or ""))  # type: ignore[method-assign]
    handler.addFilter(RedactSecrets(["sk-secret-123456", "gw-key-abcdef"]))
    logger.addHandler(handler)
    try:
        logger.warning("upstream said %s", "bad key sk-secret-123456")
        try:
            raise ValueError("auth gw-key-abcdef rejected")
        except ValueError:
            logger.exception("failed")
    finally:
        logger.removeHandler(handler)
    joined = "\n".join(seen)
    assert "sk-secret-123456" not in joined and "gw-key-abcdef" not in joined
    assert joined.count("***") >= 2 and "ValueError" in joined
