-- GET /v1/users?organization_id= of the large organization, 100 a page in
-- the order members joined, from one of its first 50 pages.
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
package.path = dir .. "../wrk/?.lua;" .. package.path
local bench = require("common")

local org = os.getenv("BENCH_ORG")
local h = bench.headers(false)
bench.run(function()
  local offset = 100 * math.random(0, 49)
  return wrk.format("GET", "/v1/users?organization_id=" .. org ..
    "&sort_field=organization_added_at&page_limit=100&page_offset=" .. offset, h)
end)
