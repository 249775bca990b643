-- POST /v1/auth/password/login for a random one of the BENCH_LOGIN_USERS
-- users bench/passwords created before the clock started (email
-- pwl-NONCE-I@example.com, password amber-sloop-login-NONCE-I-Kq7): one
-- argon2id verification per request, with the login application's client
-- token (BENCH_TOKEN), client id and registered redirect URI.
-- Loaded from the scripts' own directory whatever the working directory.
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
package.path = dir .. "?.lua;" .. dir .. "../passwords.d/?.lua;" .. package.path
local bench = require("common")
require("statuses")

local users = tonumber(os.getenv("BENCH_LOGIN_USERS") or "200")
local set = os.getenv("BENCH_LOGIN_NONCE") or ""
local client_id = os.getenv("BENCH_CLIENT_ID") or ""
local redirect = os.getenv("BENCH_REDIRECT_URI") or "https://app.example/callback"

local h = bench.headers(true)
bench.run(function()
  local i = math.random(1, users)
  local body = string.format(
    '{"email":"pwl-%s-%d@example.com","password":"amber-sloop-login-%s-%d-Kq7",' ..
    '"client_id":"%s","redirect_uri":"%s"}',
    set, i, set, i, client_id, redirect)
  return wrk.format("POST", "/v1/auth/password/login", h, body)
end)
