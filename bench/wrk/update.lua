-- PUT /v1/users/{user_id} merging into custom_data. The keys are fixed so
-- that repeated runs overwrite rather than grow the seed users' documents.
-- Loaded from the scripts' own directory whatever the working directory.
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
package.path = dir .. "?.lua;" .. package.path
local bench = require("common")

local h = bench.headers(true)
bench.run(function(n)
  local body = string.format('{"custom_data":{"bench_t":%d,"bench_n":%d}}', tid or 0, n)
  return wrk.format("PUT", "/v1/users/" .. bench.seed_id(bench.random_seed()), h, body)
end)
