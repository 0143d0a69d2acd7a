-- wrk script for the gateway bench: POST a chat request whose text changes on every request (no cached answer
-- can be measured), then print one machine-readable line from done().
--
-- Environment:
--   BENCH_PATH   request path            (default /v1/chat/completions)
--   BENCH_MODEL  the body's model        (default gpt-mock)
--   BENCH_KIND   openai | anthropic | responses   (the body's shape; default openai)
--   BENCH_AUTH   a bearer token          (LiteLLM's master key), optional

local path = os.getenv("BENCH_PATH") or "/v1/chat/completions"
local model = os.getenv("BENCH_MODEL") or "gpt-mock"
local kind = os.getenv("BENCH_KIND") or "openai"
local auth = os.getenv("BENCH_AUTH")

local threads = {}
local next_id = 0

function setup(thread)
  thread:set("tid", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

local counter = 0
local headers = {["Content-Type"] = "application/json"}

function init(args)
  if auth and auth ~= "" then
    headers["Authorization"] = "Bearer " .. auth
  end
  if kind == "anthropic" then
    headers["anthropic-version"] = "2023-06-01"
    headers["x-api-key"] = "x"
  end
  math.randomseed(os.time() + (tid or 0))
  counter = math.random(1, 1000000000)
end

function request()
  counter = counter + 1
  local body
  if kind == "anthropic" then
    body = string.format(
      '{"model":"%s","max_tokens":64,"messages":[{"role":"user","content":"bench request %d-%d: answer ok"}]}',
      model, tid or 0, counter)
  elseif kind == "responses" then
    body = string.format(
      '{"model":"%s","store":false,"max_output_tokens":64,"input":[{"role":"user","content":[{"type":"input_text","text":"bench request %d-%d: answer ok"}]}]}',
      model, tid or 0, counter)
  else
    body = string.format(
      '{"model":"%s","messages":[{"role":"user","content":"bench request %d-%d: answer ok"}]}',
      model, tid or 0, counter)
  end
  return wrk.format("POST", path, headers, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"bytes":%d,"err_connect":%d,"err_read":%d,"err_write":%d,' ..
    '"err_status":%d,"err_timeout":%d,"p50_us":%.1f,"p90_us":%.1f,"p99_us":%.1f,"mean_us":%.1f,"max_us":%.1f}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.mean, latency.max))
end
