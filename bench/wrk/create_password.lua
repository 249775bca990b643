-- POST /v1/users with a password: one argon2id hash per request, on
-- idstore's hash pool. Emails start with "pwc-" so bench/passwords can
-- delete what the run created; every password is unique, 30+ characters,
-- and contains neither the email's local part nor a common password.
-- Loaded from the scripts' own directory whatever the working directory.
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
package.path = dir .. "?.lua;" .. dir .. "../passwords.d/?.lua;" .. package.path
local bench = require("common")
require("statuses")

local h = bench.headers(true)
bench.run(function(n)
  local t = tid or 0
  local body = string.format(
    '{"email":"pwc-%s-%d-%d@example.com",' ..
    '"credentials":{"password":"amber-sloop-%s-%dx%d-Kq7","force_replace":false}}',
    bench.nonce, t, n, bench.nonce, t, n)
  return wrk.format("POST", "/v1/users", h, body)
end)
