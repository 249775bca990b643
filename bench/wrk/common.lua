-- Shared by every scenario. Configuration comes from the environment, set by
-- bench/run:
--   BENCH_USERS  seed users exist for numbers 1..BENCH_USERS
--   BENCH_TOKEN  bearer token; empty for the baseline, which checks none
--   BENCH_NONCE  unique per wrk invocation, so creates never collide with
--                users made by an earlier round or run
-- Each scenario defines `make(n)` returning the request for its n-th call
-- on this thread; done() prints one line bench/run parses.

local M = {}

M.users = tonumber(os.getenv("BENCH_USERS") or "1000000")
M.token = os.getenv("BENCH_TOKEN") or ""
M.nonce = os.getenv("BENCH_NONCE") or tostring(os.time())

local threads = 0

-- Runs in wrk's main state: hand every thread its own number, which seeds
-- its generator and keeps its created emails apart from the others'.
function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end

function M.headers(json)
  local h = {}
  if M.token ~= "" then
    h["Authorization"] = "Bearer " .. M.token
  end
  if json then
    h["Content-Type"] = "application/json"
  end
  return h
end

function M.seed_id(i)
  return string.format("seed%09d", i)
end

function M.random_seed()
  return math.random(1, M.users)
end

-- Wire the scenario's `make` into wrk's hooks.
function M.run(make)
  local n = 0
  function init(args)
    math.randomseed(os.time() * 1000 + (tid or 0) * 7919)
  end
  function request()
    n = n + 1
    return make(n)
  end
end

-- One parseable line. wrk's own status/socket error counts are included so
-- that a run full of 404s or timeouts cannot pass for a fast one.
function done(summary, latency, requests)
  local secs = summary.duration / 1e6
  local e = summary.errors
  io.write(string.format(
    "WRK_RESULT requests=%d duration_s=%.3f rps=%.1f p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f max_ms=%.3f " ..
    "status_errors=%d socket_errors=%d p95_ms=%.3f\n",
    summary.requests, secs, summary.requests / secs,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000,
    e.status, e.connect + e.read + e.write + e.timeout, latency:percentile(95) / 1000))
end

return M
