-- PUT /v1/users/{user_id} (as bench/wrk/update.lua) on the users
-- set_roles.lua writes to.
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
package.path = dir .. "../wrk/?.lua;" .. package.path
local bench = require("common")

local members = tonumber(os.getenv("BENCH_MEMBERS"))
local h = bench.headers(true)
bench.run(function(n)
  local body = string.format('{"custom_data":{"bench_t":%d,"bench_n":%d}}', tid or 0, n)
  return wrk.format("PUT", "/v1/users/" .. bench.seed_id(math.random(1, members)), h, body)
end)
