-- POST .../members/{id}/roles for a random member of the large
-- organization: one or both of the application's two roles.
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
package.path = dir .. "../wrk/?.lua;" .. package.path
local bench = require("common")

local org = os.getenv("BENCH_ORG")
local app = os.getenv("BENCH_APP")
local members = tonumber(os.getenv("BENCH_MEMBERS"))
local roles = { os.getenv("BENCH_ROLE_A"), os.getenv("BENCH_ROLE_B") }
local h = bench.headers(true)
bench.run(function(n)
  local id = bench.seed_id(math.random(1, members))
  local body
  if n % 2 == 0 then
    body = string.format('{"role_ids":["%s"]}', roles[1])
  else
    body = string.format('{"role_ids":["%s","%s"]}', roles[1], roles[2])
  end
  return wrk.format("POST", "/v1/applications/" .. app .. "/organizations/" .. org ..
    "/members/" .. id .. "/roles", h, body)
end)
