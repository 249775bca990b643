-- GET /v1/users: page 1 (100 users by created_at), with its total_count.
-- Loaded from the scripts' own directory whatever the working directory.
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
package.path = dir .. "?.lua;" .. package.path
local bench = require("common")

local h = bench.headers(false)
bench.run(function()
  return wrk.format("GET", "/v1/users", h)
end)
