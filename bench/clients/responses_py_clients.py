"""Run by responses_clients.py inside the clients' own venv: one call and one stream per Python client."""

from __future__ import annotations

import asyncio
import sys

URL = sys.argv[1] + "/v1"
KEY = "unused"
failures = 0


def report(name: str, text: str, model: str | None) -> None:
    global failures
    ok = "Hello from the Anthropic fallback." in text
    failures += not ok
    print(f"{'OK  ' if ok else 'BAD '} {name}: {text!r} (model {model})")


def litellm_client() -> None:
    import litellm

    r = litellm.responses(model="openai/detour", input="hi", api_base=URL, api_key=KEY)
    report("litellm responses()", r.output[0].content[0].text, r.model)
    text, model = "", None
    for ev in litellm.responses(model="openai/detour", input="hi", api_base=URL, api_key=KEY, stream=True):
        if ev.type == "response.output_text.delta":
            text += ev.delta
        elif ev.type == "response.completed":
            model = ev.response.model
    report("litellm responses(stream=True)", text, model)


def langchain_client() -> None:
    from langchain_openai import ChatOpenAI

    llm = ChatOpenAI(model="detour", base_url=URL, api_key=KEY, use_responses_api=True, max_retries=0)
    msg = llm.invoke("hi")
    report("langchain ChatOpenAI(use_responses_api=True).invoke", msg.text if isinstance(msg.text, str) else msg.text(),
           msg.response_metadata.get("model_name"))
    text = ""
    for chunk in llm.stream("hi"):
        text += chunk.text if isinstance(chunk.text, str) else chunk.text()
    report("langchain .stream", text, None)


def pydantic_ai_client() -> None:
    from pydantic_ai import Agent
    from pydantic_ai.models.openai import OpenAIResponsesModel
    from pydantic_ai.providers.openai import OpenAIProvider

    agent = Agent(OpenAIResponsesModel("detour", provider=OpenAIProvider(base_url=URL, api_key=KEY)))
    result = agent.run_sync("hi")
    report("pydantic-ai OpenAIResponsesModel run_sync", result.output, result.all_messages()[-1].model_name)

    async def stream() -> str:
        out = ""
        async with agent.run_stream("hi") as run:
            async for delta in run.stream_text(delta=True):
                out += delta
        return out

    report("pydantic-ai run_stream", asyncio.run(stream()), None)


for client in (litellm_client, langchain_client, pydantic_ai_client):
    try:
        client()
    except Exception as exc:  # noqa: BLE001 - report every client, then fail
        failures += 1
        print(f"BAD  {client.__name__}: {type(exc).__name__}: {exc}")
sys.exit(1 if failures else 0)
