-- GET /v1/organizations/{org}/members/{user_id} for a random member of the
-- large organization (seed users 1..BENCH_MEMBERS).
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
package.path = dir .. "../wrk/?.lua;" .. package.path
local bench = require("common")

local org = os.getenv("BENCH_ORG")
local members = tonumber(os.getenv("BENCH_MEMBERS"))
local h = bench.headers(false)
bench.run(function()
  local id = bench.seed_id(math.random(1, members))
  return wrk.format("GET", "/v1/organizations/" .. org .. "/members/" .. id, h)
end)
