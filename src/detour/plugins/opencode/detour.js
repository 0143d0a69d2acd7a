// @ts-check
/**
 * detour for OpenCode: which model is serving this session, inside OpenCode.
 *
 * - tags every request to the `detour` provider with `x-detour-session: <OpenCode session id>`;
 * - follows the gateway's `GET /events` and, when one of this OpenCode's sessions is switched to another
 *   model or comes back, shows a toast (`rate-limited on claude-sonnet-4 → gpt-5, back ~14:05`) and writes
 *   the same line to OpenCode's log (service `detour`; `opencode run --print-logs` prints it);
 * - adds a `/detour` command that shows the chain with each model's health.
 *
 * Installed by `detour opencode --write opencode.json` into `.opencode/plugins/detour.js` beside that file.
 * No dependencies: the types below are JSDoc, checked against the `@opencode-ai/plugin` package.
 */

/** @typedef {import("@opencode-ai/plugin").Plugin} Plugin */
/** @typedef {import("@opencode-ai/plugin").Hooks} Hooks */
/** @typedef {{event: string, data: any, id?: string}} SSE */
/** @typedef {{title: string, message: string, variant: "info" | "success" | "warning" | "error"}} Notice */

const DEFAULT_URL = "http://127.0.0.1:4141";
const PROVIDER = "detour";
const RETRY_MS = [1000, 2000, 5000, 10000, 30000];

/** Words a person reads for the gateway's fallback reasons. */
const REASONS = {
  rate_limited: "rate-limited", quota_exhausted: "out of quota", overloaded: "overloaded",
  server_error: "server error", timeout: "timing out", unreachable: "unreachable", auth_failed: "auth failed",
  not_found: "model not found", context_too_long: "context too long", content_blocked: "content blocked",
  bad_request: "bad request", stream_broken: "stream broken", connection_lost: "connection lost",
};

/** @param {string | null | undefined} reason */
function reasonText(reason) {
  const kind = String(reason || "unavailable").replace(/^cooling:/, "");
  return /** @type {Record<string, string>} */ (REASONS)[kind] || kind.replace(/_/g, " ");
}

/** `anthropic/claude-sonnet-4` -> `claude-sonnet-4`. @param {string | null | undefined} model */
function short(model) {
  const text = String(model || "?");
  const slash = text.indexOf("/");
  return slash >= 0 ? text.slice(slash + 1) : text;
}

/** Local wall-clock `HH:MM`. @param {number} epoch seconds */
function clock(epoch) {
  const at = new Date(epoch * 1000);
  return `${String(at.getHours()).padStart(2, "0")}:${String(at.getMinutes()).padStart(2, "0")}`;
}

/**
 * The toast for a gateway event, or null when it is not one to show.
 * @param {any} event a `switch` event from /events
 * @returns {Notice | null}
 */
function describe(event) {
  if (!event || event.type !== "switch" || !event.session || !event.to) return null;
  if (event.reason === "recovered" || event.to === event.primary) {
    return { title: "detour", variant: "success", message: `back on ${short(event.to)} (was ${short(event.from)})` };
  }
  const back = event.until ? `, back ~${clock(event.until)}` : "";
  return { title: "detour", variant: "warning",
           message: `${reasonText(event.reason)} on ${short(event.from)} → ${short(event.to)}${back}` };
}

/**
 * Split Server-Sent Events out of a text buffer; returns the complete events and the unfinished rest.
 * @param {string} buffer
 * @returns {{events: SSE[], rest: string}}
 */
function parseSSE(buffer) {
  const events = [];
  const blocks = buffer.replace(/\r\n/g, "\n").split("\n\n");
  const rest = blocks.pop() ?? "";
  for (const block of blocks) {
    let name = "message";
    let id;
    const data = [];
    for (const line of block.split("\n")) {
      if (line.startsWith(":")) continue;
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
      if (field === "event") name = value;
      else if (field === "data") data.push(value);
      else if (field === "id") id = value;
    }
    if (!data.length) continue;
    try {
      events.push({ event: name, data: JSON.parse(data.join("\n")), id });
    } catch {
      // not JSON: not one of the gateway's events
    }
  }
  return { events, rest };
}

/**
 * The chain with each model's health, from the gateway's /status, as lines for `/detour`.
 * @param {any} status
 * @param {string | undefined} session this session's id: its served model is marked
 */
function chainSummary(status, session) {
  const lines = [];
  const mine = session && status?.sessions?.[session];
  for (const [name, chain] of Object.entries(status?.chains || {})) {
    const serving = (mine && mine.chain === name ? mine.model : null) || chain.current;
    const models = (chain.models || []).map((/** @type {string} */ id) => {
      const h = status.models?.[id] || {};
      const state = h.state || "?";
      const until = h.until ? ` until ${clock(h.until)}` : "";
      const last = h.last_error && state !== "ok" ? `, ${reasonText(h.last_error)}` : "";
      return `${id === serving ? "▶ " : ""}${short(id)} (${state}${until}${last})`;
    });
    lines.push(`${name}: ${models.join(" → ") || "no models"}`);
  }
  return lines.join("\n") || "detour: no chains";
}

/**
 * The gateway's address and key from OpenCode's `provider.detour.options` (set by `detour opencode --write`).
 * @param {any} config OpenCode's resolved config
 * @param {Record<string, string | undefined>} env
 */
function gatewayFrom(config, env) {
  const options = config?.provider?.[PROVIDER]?.options || {};
  const base = String(env.DETOUR_URL || options.baseURL || DEFAULT_URL).replace(/\/+$/, "").replace(/\/v1$/, "");
  const key = env.DETOUR_API_KEY || options.apiKey;
  return { url: base, key: typeof key === "string" && key ? key : undefined };
}

/**
 * The provider a request goes to. The plugin package types `provider` as `{info: Provider, ...}`; OpenCode 1.18
 * passes the Provider itself, and `model.providerID` in both.
 * @param {any} input the `chat.headers` input
 * @returns {string | undefined}
 */
function providerOf(input) {
  return input?.model?.providerID ?? input?.provider?.info?.id ?? input?.provider?.id;
}

/** @type {Plugin} */
const plugin = async ({ client }) => {
  let gateway = gatewayFrom(undefined, process.env);
  /** @type {Set<string>} */
  const sessions = new Set();
  const abort = new AbortController();
  let started = false;

  /** @param {"info" | "warn"} level @param {string} message @param {Record<string, unknown>} [extra] */
  const log = async (level, message, extra) => {
    try {
      await client.app.log({ body: { service: "detour", level, message, extra } });
    } catch {
      // OpenCode's log is best effort from a plugin
    }
  };
  /** @param {Notice} notice @param {number} [duration] */
  const toast = async (notice, duration) => {
    try {
      await client.tui.showToast({ body: { ...notice, duration: duration ?? 8000 } });
    } catch {
      // no TUI (opencode run): the log line is the record
    }
  };
  const headers = () => /** @type {Record<string, string>} */ ({
    accept: "text/event-stream", ...(gateway.key ? { authorization: `Bearer ${gateway.key}` } : {}) });

  /** @param {SSE} sse */
  const onEvent = async (sse) => {
    if (sse.event !== "switch" || !sessions.has(sse.data?.session)) return;
    const notice = describe(sse.data);
    if (!notice) return;
    await log("info", `detour: ${notice.message}`, { session: sse.data.session, from: sse.data.from, to: sse.data.to });
    await toast(notice);
  };

  const follow = async () => {
    for (let attempt = 0; !abort.signal.aborted; attempt++) {
      try {
        const resp = await fetch(`${gateway.url}/events`, { headers: headers(), signal: abort.signal });
        if (!resp.ok || !resp.body) throw new Error(`HTTP ${resp.status}`);
        attempt = 0;
        const reader = resp.body.getReader();
        const decoder = new TextDecoder();
        let buffer = "";
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          const parsed = parseSSE(buffer + decoder.decode(value, { stream: true }));
          buffer = parsed.rest;
          for (const sse of parsed.events) await onEvent(sse);
        }
      } catch (err) {
        if (abort.signal.aborted) return;
        if (attempt === 0) await log("warn", `detour: no event stream from ${gateway.url} (${String(err)}); retrying`);
      }
      await new Promise((done) => setTimeout(done, RETRY_MS[Math.min(attempt, RETRY_MS.length - 1)]));
    }
  };
  const start = () => {
    if (!started) {
      started = true;
      void follow();
    }
  };

  /** @type {Hooks} */
  const hooks = {
    config: async (config) => {
      gateway = gatewayFrom(config, process.env);
      const commands = /** @type {Record<string, any>} */ (config.command ??= {});
      commands.detour ??= { description: "detour: the fallback chain and each model's health", template: "detour" };
      start();
    },
    "chat.headers": async (input, output) => {
      if (providerOf(input) !== PROVIDER) return;
      sessions.add(input.sessionID);
      output.headers["x-detour-session"] = input.sessionID;
    },
    "command.execute.before": async (input, output) => {
      if (input.command !== "detour") return;
      let text;
      try {
        const resp = await fetch(`${gateway.url}/status`, { headers: { ...headers(), accept: "application/json" } });
        text = resp.ok ? chainSummary(await resp.json(), input.sessionID) : `detour: the gateway answered HTTP ${resp.status}`;
      } catch {
        text = `detour: offline (${gateway.url})`;
      }
      await log("info", text);
      await toast({ title: "detour", message: text, variant: "info" }, 15000);
      output.parts = [];  // nothing for the model: the answer is the toast
      /** @type {any} */ (output).noReply = true;
    },
    dispose: async () => abort.abort(),
  };
  return hooks;  // the event stream starts in `config`, once the gateway's address is known
};

/**
 * OpenCode calls every export of a plugin file as a plugin, so the helpers travel on the plugin function
 * (for the unit tests: `DetourPlugin.internals`) and the default export is the same function (loaded once).
 */
export const DetourPlugin = Object.assign(plugin, {
  internals: { REASONS, DEFAULT_URL, providerOf, reasonText, short, clock, describe, parseSSE, chainSummary, gatewayFrom },
});
export default DetourPlugin;
