-- GET /v1/users/email/{email} for a random seed user.
-- Loaded from the scripts' own directory whatever the working directory.
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
package.path = dir .. "?.lua;" .. package.path
local bench = require("common")

local h = bench.headers(false)
bench.run(function()
  return wrk.format("GET", "/v1/users/email/user" .. bench.random_seed() .. "@example.com", h)
end)
