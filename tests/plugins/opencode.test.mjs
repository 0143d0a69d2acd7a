// Unit tests of the OpenCode plugin (node --test): helpers, hooks, and the event stream over a real socket.
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { once } from "node:events";
import { test } from "node:test";

import DetourPlugin from "../../src/detour/plugins/opencode/detour.js";

const { describe, parseSSE, chainSummary, gatewayFrom, reasonText, short, clock } = DetourPlugin.internals;
const at = (h, m) => new Date(2026, 11, 3, h, m, 0).getTime() / 1000;

test("a switch to the fallback reads as reason, route and return time", () => {
  const notice = describe({ type: "switch", session: "ses_1", from: "anthropic/claude-sonnet-4", to: "openai/gpt-5",
                            primary: "anthropic/claude-sonnet-4", reason: "rate_limited", until: at(14, 5) });
  assert.deepEqual(notice, { title: "detour", variant: "warning", message: "rate-limited on claude-sonnet-4 → gpt-5, back ~14:05" });
  const noUntil = describe({ type: "switch", session: "s", from: "a/x", to: "b/y", primary: "a/x", reason: "cooling:overloaded" });
  assert.equal(noUntil.message, "overloaded on x → y");
});

test("the return to the primary is a success toast", () => {
  const notice = describe({ type: "switch", session: "s", from: "openai/gpt-5", to: "anthropic/claude-sonnet-4",
                            primary: "anthropic/claude-sonnet-4", reason: "recovered", until: null });
  assert.deepEqual(notice, { title: "detour", variant: "success", message: "back on claude-sonnet-4 (was gpt-5)" });
});

test("only session switches are shown", () => {
  assert.equal(describe({ type: "switch", session: null, from: "a/x", to: "b/y" }), null);  // chain-wide
  assert.equal(describe({ type: "cooldown_start", session: "s", scope: "model:a/x" }), null);
  assert.equal(describe(null), null);
});

test("words, names and clock", () => {
  assert.equal(reasonText("quota_exhausted"), "out of quota");
  assert.equal(reasonText("some_new_kind"), "some new kind");
  assert.equal(reasonText(undefined), "unavailable");
  assert.equal(short("lmstudio/qwen/qwen3-coder"), "qwen/qwen3-coder");
  assert.equal(short("bare"), "bare");
  assert.equal(clock(at(9, 7)), "09:07");
});

test("SSE parsing keeps an unfinished event for the next chunk", () => {
  const first = parseSSE('id: 1\nevent: switch\ndata: {"a":1}\n\n: keep-alive\n\nevent: status\ndata: {"b"');
  assert.deepEqual(first.events, [{ event: "switch", data: { a: 1 }, id: "1" }]);
  const second = parseSSE(first.rest + ':2}\r\n\r\ndata: not json\n\n');
  assert.deepEqual(second.events, [{ event: "status", data: { b: 2 }, id: undefined }]);
  assert.equal(second.rest, "");
});

test("the chain summary marks the serving model and says why the others are not", () => {
  const status = {
    chains: { default: { primary: "ant/claude-x", current: "oai/gpt-x", models: ["ant/claude-x", "oai/gpt-x"] } },
    models: { "ant/claude-x": { state: "cooling", until: at(14, 5), last_error: "rate_limited" }, "oai/gpt-x": { state: "ok" } },
    sessions: {},
  };
  assert.equal(chainSummary(status, "ses_1"), "default: claude-x (cooling until 14:05, rate-limited) → ▶ gpt-x (ok)");
  status.sessions.ses_1 = { chain: "default", model: "ant/claude-x" };
  assert.match(chainSummary(status, "ses_1"), /^default: ▶ claude-x/);
  assert.equal(chainSummary({}, undefined), "detour: no chains");
});

test("the gateway address comes from OpenCode's detour provider, DETOUR_URL first", () => {
  const config = { provider: { detour: { options: { baseURL: "http://127.0.0.1:5000/v1/", apiKey: "k1" } } } };
  assert.deepEqual(gatewayFrom(config, {}), { url: "http://127.0.0.1:5000", key: "k1" });
  assert.deepEqual(gatewayFrom(config, { DETOUR_URL: "http://127.0.0.1:6000" }).url, "http://127.0.0.1:6000");
  assert.deepEqual(gatewayFrom(undefined, {}), { url: "http://127.0.0.1:4141", key: undefined });
});

/** A fake OpenCode client that records log lines and toasts. */
function fakeClient() {
  const logs = [];
  const toasts = [];
  return { logs, toasts, client: { app: { log: async ({ body }) => { logs.push(body); } },
                                   tui: { showToast: async ({ body }) => { toasts.push(body); } } } };
}

/** A gateway stand-in on 127.0.0.1: /events sends `state`, then what `push` writes; /status answers JSON. */
async function fakeGateway(status) {
  const streams = [];
  const seen = [];
  const server = createServer((req, res) => {
    seen.push({ url: req.url, authorization: req.headers.authorization });
    if (req.url === "/events") {
      res.writeHead(200, { "content-type": "text/event-stream" });
      res.write(`event: state\ndata: ${JSON.stringify({ status })}\n\n`);
      streams.push(res);
    } else if (req.url === "/status") {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify(status));
    } else {
      res.writeHead(404).end();
    }
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const url = `http://127.0.0.1:${server.address().port}`;
  const connected = async () => { while (!streams.length) await new Promise((r) => setTimeout(r, 10)); };
  const push = (event, data) => { for (const res of streams) res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`); };
  const close = () => { for (const res of streams) res.end(); server.close(); };
  return { url, seen, connected, push, close };
}

async function until(check) {
  for (let i = 0; i < 200 && !check(); i++) await new Promise((r) => setTimeout(r, 10));
  return check();
}

test("the plugin tags detour requests with the session and toasts that session's switches", async () => {
  const status = { chains: { default: { current: "ant/claude-x", models: ["ant/claude-x", "oai/gpt-x"] } }, models: {} };
  const gw = await fakeGateway(status);
  const { logs, toasts, client } = fakeClient();
  const hooks = await DetourPlugin({ client });
  const config = { provider: { detour: { options: { baseURL: `${gw.url}/v1`, apiKey: "gw-key" } } } };
  await hooks.config(config);
  assert.equal(config.command.detour.description.startsWith("detour"), true);
  try {
    const out = { headers: {} };
    await hooks["chat.headers"]({ sessionID: "ses_A", provider: { info: { id: "detour" } } }, out);
    assert.deepEqual(out.headers, { "x-detour-session": "ses_A" });
    const as118 = { headers: {} };  // what OpenCode 1.18.33 passes: the provider itself, and model.providerID
    await hooks["chat.headers"]({ sessionID: "ses_C", provider: { id: "detour" }, model: { providerID: "detour" } }, as118);
    assert.deepEqual(as118.headers, { "x-detour-session": "ses_C" });
    const other = { headers: {} };
    await hooks["chat.headers"]({ sessionID: "ses_B", provider: { id: "anthropic" }, model: { providerID: "anthropic" } }, other);
    assert.deepEqual(other.headers, {});  // not a detour request: untouched, and not a session of ours

    await gw.connected();
    gw.push("switch", { type: "switch", session: "ses_B", from: "ant/claude-x", to: "oai/gpt-x", primary: "ant/claude-x", reason: "rate_limited" });
    gw.push("switch", { type: "switch", session: "ses_A", from: "ant/claude-x", to: "oai/gpt-x", primary: "ant/claude-x", reason: "rate_limited", until: at(14, 5) });
    assert.ok(await until(() => toasts.length === 1), "no toast for ses_A");
    assert.equal(toasts[0].message, "rate-limited on claude-x → gpt-x, back ~14:05");
    assert.equal(toasts[0].variant, "warning");
    assert.ok(logs.some((l) => l.service === "detour" && l.message === "detour: rate-limited on claude-x → gpt-x, back ~14:05"));
    gw.push("switch", { type: "switch", session: "ses_A", from: "oai/gpt-x", to: "ant/claude-x", primary: "ant/claude-x", reason: "recovered" });
    assert.ok(await until(() => toasts.length === 2));
    assert.equal(toasts[1].message, "back on claude-x (was gpt-x)");
    assert.equal(gw.seen.find((s) => s.url === "/events").authorization, "Bearer gw-key");
  } finally {
    await hooks.dispose();
    gw.close();
  }
});

test("/detour shows the chain as a toast and sends nothing to the model", async () => {
  const status = { chains: { default: { current: "oai/gpt-x", models: ["ant/claude-x", "oai/gpt-x"] } },
                   models: { "ant/claude-x": { state: "cooling", last_error: "overloaded" }, "oai/gpt-x": { state: "ok" } } };
  const gw = await fakeGateway(status);
  const { toasts, client } = fakeClient();
  const hooks = await DetourPlugin({ client });
  await hooks.config({ provider: { detour: { options: { baseURL: `${gw.url}/v1` } } } });
  try {
    const output = { parts: [{ type: "text", text: "detour" }] };
    await hooks["command.execute.before"]({ command: "detour", sessionID: "ses_A", arguments: "" }, output);
    assert.deepEqual(output.parts, []);
    assert.equal(toasts.at(-1).message, "default: claude-x (cooling, overloaded) → ▶ gpt-x (ok)");
    const untouched = { parts: [{ type: "text", text: "x" }] };
    await hooks["command.execute.before"]({ command: "review", sessionID: "ses_A", arguments: "" }, untouched);
    assert.equal(untouched.parts.length, 1);
  } finally {
    await hooks.dispose();
    gw.close();
  }
});

test("/detour with the gateway down says offline", async () => {
  const { toasts, client } = fakeClient();
  const hooks = await DetourPlugin({ client });
  await hooks.config({ provider: { detour: { options: { baseURL: "http://127.0.0.1:9/v1" } } } });
  const output = { parts: [] };
  await hooks["command.execute.before"]({ command: "detour", sessionID: "s", arguments: "" }, output);
  await hooks.dispose();
  assert.equal(toasts.at(-1).message, "detour: offline (http://127.0.0.1:9)");
});
