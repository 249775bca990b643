-- GET /v1/users/{user_id} for a random seed user.
-- Loaded from the scripts' own directory whatever the working directory.
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
package.path = dir .. "?.lua;" .. package.path
local bench = require("common")

local h = bench.headers(false)
bench.run(function()
  return wrk.format("GET", "/v1/users/" .. bench.seed_id(bench.random_seed()), h)
end)
