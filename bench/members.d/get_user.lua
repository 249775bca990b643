-- GET /v1/users/{user_id} for the same users get_member.lua reads.
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
package.path = dir .. "../wrk/?.lua;" .. package.path
local bench = require("common")

local members = tonumber(os.getenv("BENCH_MEMBERS"))
local h = bench.headers(false)
bench.run(function()
  return wrk.format("GET", "/v1/users/" .. bench.seed_id(math.random(1, members)), h)
end)
