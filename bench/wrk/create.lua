-- POST /v1/users with an email only (no password: no hashing in the loop).
-- Emails start with "wrk-" so bench/run can delete what the run created.
-- Loaded from the scripts' own directory whatever the working directory.
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
package.path = dir .. "?.lua;" .. package.path
local bench = require("common")

local h = bench.headers(true)
bench.run(function(n)
  local body = string.format('{"email":"wrk-%s-%d-%d@example.com"}', bench.nonce, tid or 0, n)
  return wrk.format("POST", "/v1/users", h, body)
end)
