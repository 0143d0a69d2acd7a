"""Wire protocols: the neutral model (messages), one codec per wire format, and the error taxonomy.

Every codec module (openai_chat, anthropic, gemini) exposes the same functions:

- ``decode_request(body: dict) -> Request``            client wire -> neutral (front door)
- ``encode_request(req: Request, model: str) -> dict`` neutral -> upstream wire body
- ``decode_response(body: dict) -> Response``          upstream wire -> neutral
- ``StreamDecoder``: ``feed(bytes) -> list[Event]``, ``close() -> list[Event]``  upstream SSE -> events
- ``encode_response(resp: Response, model: str) -> dict``  neutral -> client wire
- ``StreamEncoder(model)``: ``encode(event) -> bytes``, ``error(failure) -> bytes``  events -> client SSE
- ``encode_error(failure_or_status, message) -> tuple[int, dict]``  an error body in that protocol
"""
