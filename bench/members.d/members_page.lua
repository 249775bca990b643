-- A page of 100 members of the large organization, after a random member.
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
package.path = dir .. "../wrk/?.lua;" .. package.path
local bench = require("common")

local org = os.getenv("BENCH_ORG")
local members = tonumber(os.getenv("BENCH_MEMBERS"))
local h = bench.headers(false)
bench.run(function()
  local after = bench.seed_id(math.random(1, members))
  return wrk.format("GET", "/v1/organizations/" .. org .. "/members?page_limit=100&after=" .. after, h)
end)
