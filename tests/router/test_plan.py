from __future__ import annotations

import pytest

from detour.catalog.model import ModelInfo
from detour.config import ChainConfig, parse_config
from detour.protocol.codec import CODECS
from detour.protocol.errors import Failure
from detour.protocol.messages import (
    ImagePart,
    Message,
    Request,
    ResponseFormat,
    TextPart,
    Tool,
)
from detour.routing.keys import KeyPool, make_keys, session_key
from detour.routing.needs import infer_needs, parse_require
from detour.routing.plan import (
    Guardrails,
    Target,
    after_context_failure,
    make_plan,
    prefer_uncensored,
)
from detour.routing.policy import Decision, Settings, capability_for_param, decide


def settings(**fields: object) -> Settings:
    """A chain's policy as the router gets it: through the config schema, which holds every default."""
    return Settings.from_chain(ChainConfig(**fields))  # type: ignore[arg-type]  # test shorthand: python names


def rails(**fields: object) -> Guardrails:
    return Guardrails.from_chain(ChainConfig(**fields))  # type: ignore[arg-type]  # test shorthand: python names


def target(model_id: str, **caps: object) -> Target:
    provider, model = model_id.split("/", 1)
    info = ModelInfo(id=model_id, provider=provider, model=model, **caps) if caps else None  # type: ignore[arg-type]
    price = info.blended_price if info else None
    tier = {"free": 0, "low": 1, "medium": 2, "high": 3}.get(info.tier) if info and info.tier else None  # type: ignore[arg-type]
    return Target(model_id, provider, model, CODECS["openai"], None, info, price=price, tier=tier,
                  url_images=bool(info is None or info.image_url is not False))


def user(*parts: object) -> Request:
    return Request(model="detour", messages=[Message("user", list(parts))])  # type: ignore[arg-type]


def ids(plan: object) -> list[str]:
    return [c.target.model_id for c in plan.candidates]  # type: ignore[attr-defined]


def test_needs_are_inferred_from_the_request() -> None:
    req = user(TextPart("x" * 4000), ImagePart(url="https://x/y.png"))
    req.tools = [Tool("f")]
    req.reasoning_effort = "high"
    req.thinking_budget = 1000
    req.response_format = ResponseFormat("json_schema", {"type": "object"})
    req.max_tokens = 500
    needs = infer_needs(req, require=["vision"])
    assert needs.caps == {"tools", "image", "reasoning", "thinking", "structured_output"}
    assert needs.image_urls and needs.min_context >= 1000 + 1000 + 500
    assert parse_require("thinking, Vision ,json, tool") == ["thinking", "image", "structured_output", "tools"]
    with pytest.raises(ValueError, match="unknown capability 'bogus'; accepted: tools, image, pdf"):
        parse_require("thinking, bogus")  # never silently dropped
    assert infer_needs(user(TextPart("hi"))).caps == frozenset()


def test_capability_skips_and_unknown_last() -> None:
    groups = [
        [target("a/text-only", image=False, tools=True, context=8000)],
        [target("b/unknown")],
        [target("c/vision", image=True, tools=True, context=200_000)],
    ]
    plan = make_plan(groups, infer_needs(user(ImagePart(data="AA", media_type="image/png"))), rails())
    assert ids(plan) == ["c/vision", "b/unknown"]
    assert plan.skipped == [("a/text-only", "missing:image")]
    skip = make_plan(groups, infer_needs(user(ImagePart(data="AA"))), rails(unknown_capability="skip"))
    assert ids(skip) == ["c/vision"]
    tried = make_plan(groups, infer_needs(user(ImagePart(data="AA"))), rails(unknown_capability="try"))
    assert ids(tried) == ["b/unknown", "c/vision"]


def test_long_prompt_skips_small_context_and_learned_missing_capability() -> None:
    groups = [[target("a/small", context=4000)], [target("b/big", context=1_000_000, tools=None)]]
    plan = make_plan(groups, infer_needs(user(TextPart("w" * 100_000))), rails())
    assert ids(plan) == ["b/big"] and plan.skipped == [("a/small", "context_too_small")]
    req = user(TextPart("hi"))
    req.tools = [Tool("f")]
    plan = make_plan(groups, infer_needs(req), rails(), missing=lambda m: frozenset({"tools"}) if m == "b/big" else frozenset())
    assert ids(plan) == ["a/small"] and ("b/big", "missing:tools") in plan.skipped


def test_image_url_unsupported() -> None:
    groups = [[target("g/gem", image=True, image_url=False)], [target("o/gpt", image=True)]]
    plan = make_plan(groups, infer_needs(user(ImagePart(url="https://x/y.png"))), rails())
    assert ids(plan) == ["o/gpt"] and plan.skipped == [("g/gem", "image_url_unsupported")]


def test_strategies_keep_equivalent_routes_beside_their_model() -> None:
    a, a_or = target("a/m", cost_input=10.0, cost_output=30.0), target("or/a-m", cost_input=10.0, cost_output=30.0)
    a_or = Target(**{**{f: getattr(a_or, f) for f in a_or.__dataclass_fields__}, "via": "a/m"})
    b, c = target("b/cheap", cost_input=0.1, cost_output=0.2), target("c/unknown")
    groups = [[a, a_or], [b], [c]]
    assert ids(make_plan(groups, infer_needs(user()), rails())) == ["a/m", "or/a-m", "b/cheap", "c/unknown"]
    assert ids(make_plan(groups, infer_needs(user()), rails(strategy="cost"))) == ["b/cheap", "a/m", "or/a-m", "c/unknown"]
    speeds = {"c/unknown": 200.0, "a/m": 50.0}
    by_speed = make_plan(groups, infer_needs(user()), rails(strategy="speed"), speed=speeds.get)
    assert ids(by_speed) == ["c/unknown", "a/m", "or/a-m", "b/cheap"]


def test_cost_guardrails_and_downgrade() -> None:
    primary = target("a/mid", cost_input=1.0, cost_output=4.0, tools=True, image=True)
    pricey = target("b/pricey", cost_input=15.0, cost_output=75.0, tools=True, image=True)
    blind = target("c/blind", cost_input=0.5, cost_output=1.0, tools=True, image=False)
    groups = [[primary], [pricey], [blind]]
    plan = make_plan(groups, infer_needs(user()), rails(max_cost_tier="medium"))
    assert ids(plan) == ["a/mid", "c/blind"] and plan.skipped == [("b/pricey", "cost_tier")]
    plan = make_plan(groups, infer_needs(user()), rails(max_price_ratio=2.0))
    assert plan.skipped == [("b/pricey", "price_ratio")]
    plan = make_plan(groups, infer_needs(user()), rails(allow_downgrade=False))
    assert ids(plan) == ["a/mid", "b/pricey"] and plan.skipped == [("c/blind", "missing:image")]


def test_context_failure_and_uncensored_preference() -> None:
    failed = target("a/x", context=8000)
    rest = make_plan([[target("b/small", context=4000)], [target("c/big", context=100_000)], [target("d/unk")]],
                     infer_needs(user()), rails()).candidates
    keep, skipped = after_context_failure(rest, failed)
    assert [c.target.model_id for c in keep] == ["c/big", "d/unk"] and skipped == [("b/small", "context_too_small")]
    ordered = prefer_uncensored(make_plan([[target("m/mod", uncensored=False)], [target("u/unc", uncensored=True)]],
                                          infer_needs(user()), rails()).candidates)
    assert ordered[0].target.model_id == "u/unc"


def test_policy_defaults_are_the_config_schemas() -> None:
    """One default per setting, in the config schema: retryAttempts is the mission's 3 everywhere."""
    chain = parse_config({"model": {"primary": "a/m"}}).config.model
    assert Settings.from_chain(chain) == settings() == Settings("auto-switch", 3, 10.0, "fail")
    assert chain.retry_attempts == 3
    assert rails() == Guardrails("priority", "last", None, None, True)
    calls = [decide(Failure("server_error"), n, settings(), rand=lambda: 0.5).action for n in range(5)]
    assert calls == ["retry", "retry", "retry", "switch", "switch"]


def test_policy_rows() -> None:
    s = settings(retry_attempts=2, max_retry_wait=10.0)
    r = lambda: 0.5
    assert decide(Failure("rate_limited", retry_after_s=3600), 0, s) .action == "switch"
    assert decide(Failure("rate_limited"), 0, s).cool == "model"
    retry = settings(on_rate_limit="retry", retry_attempts=2, max_retry_wait=10.0)
    assert decide(Failure("rate_limited", retry_after_s=2), 0, retry).wait == 2
    assert decide(Failure("rate_limited", retry_after_s=2), 2, retry).action == "switch"
    assert decide(Failure("rate_limited", retry_after_s=60), 0, retry).action == "switch"
    wait = settings(on_rate_limit="wait", max_retry_wait=10.0)
    assert decide(Failure("rate_limited", retry_after_s=5), 0, wait) == decide(Failure("rate_limited", retry_after_s=5), 0, wait)
    assert decide(Failure("rate_limited", retry_after_s=5), 0, wait).action == "retry"
    assert decide(Failure("rate_limited", retry_after_s=50), 0, wait).action == "switch"
    assert decide(Failure("rate_limited"), 0, settings(on_rate_limit="fail")).action == "fail"
    assert decide(Failure("quota_exhausted"), 0, s) .action == "next_key"
    assert decide(Failure("auth_failed"), 0, s).cool == "key"
    assert decide(Failure("overloaded"), 0, s, rand=r).wait == 0.25
    assert decide(Failure("server_error"), 1, s, rand=r).wait == 0.5
    assert decide(Failure("server_error"), 2, s, rand=r).action == "switch"
    assert decide(Failure("timeout"), 0, s).action == "switch"
    assert decide(Failure("unreachable"), 0, s).cool == "provider"
    assert decide(Failure("context_too_long"), 0, s) .cool is None
    assert decide(Failure("content_blocked"), 0, s).action == "fail"
    assert decide(Failure("content_blocked"), 0, settings(on_content_block="switch")).action == "switch"
    assert decide(Failure("bad_request"), 0, s).action == "fail"
    assert decide(Failure("bad_request", unsupported_param="tools"), 0, s).action == "skip"
    assert decide(Failure("not_found"), 0, s).cool == "model"
    assert decide(Failure("connection_lost"), 0, s) == Decision("retry")  # once, at once: nothing was received
    assert decide(Failure("connection_lost"), 1, s) == Decision("switch", cool="route")


def test_the_classifiers_scope_is_authoritative_the_table_only_a_default() -> None:
    """The decision that follows a classified error, not only the classification."""
    from detour.protocol.errors import classify

    s = settings()
    per_model = {"error": {"code": 429, "status": "RESOURCE_EXHAUSTED", "message": "You exceeded your current quota",
                           "details": [{"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": [
                               {"quotaId": "GenerateRequestsPerDayPerProjectPerModel-FreeTier"}]}]}}
    failure = classify("gemini", 429, {}, per_model, provider="google")
    assert failure.kind == "quota_exhausted" and decide(failure, 0, s).cool == "model"  # not the whole key
    billing = {"error": {"type": "insufficient_quota", "code": "insufficient_quota", "message": "You exceeded your current quota"}}
    assert decide(classify("openai", 429, {}, billing, provider="openai"), 0, s).cool == "key"
    org_wide = classify("openai", 402, {"retry-after": "3"}, {"error": {"message": "in-flight budget"}}, provider="openrouter")
    assert (org_wide.kind, decide(org_wide, 0, s).cool) == ("rate_limited", "key")
    assert decide(Failure("quota_exhausted"), 0, s).cool == "key"  # no scope given: the table's default
    assert capability_for_param("reasoning_effort") == "reasoning" and capability_for_param("x") == "param:x"


def test_keys_round_robin_stickiness_and_aliases() -> None:
    keys = make_keys(("s1", "s2", "s3"), "OPENAI_API_KEY")
    assert [k.alias for k in keys] == ["OPENAI_API_KEY", "OPENAI_API_KEY#2", "OPENAI_API_KEY#3"]
    assert "s1" not in repr(keys[0]) and make_keys(()) [0].alias == "none"
    pool = KeyPool()
    ok = lambda k: True
    firsts = [pool.order("p", keys, f"s{i}", ok)[0].alias for i in range(3)]
    assert len(set(firsts)) == 3
    pool.stick("p", "sess", keys[1])
    assert pool.order("p", keys, "sess", ok)[0] == keys[1]
    assert pool.order("p", keys, "sess", lambda k: k is not keys[1])[0] != keys[1]
    a = user(TextPart("hello"))
    b = user(TextPart("hello"))
    assert session_key(a) == session_key(b) != session_key(user(TextPart("other")))
    a.user = "u1"
    assert session_key(a) == "u1" and session_key(a, "hdr") == "hdr"
