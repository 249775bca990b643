-- Shared by bench/wrk/create_password.lua and bench/wrk/login.lua, on top
-- of bench/wrk/common.lua: counts every answer by status code and prints,
-- after common.lua's WRK_RESULT line, one line bench/passwords parses:
--   WRK_STATUS 201=1234 503=5
-- (wrk itself only counts "status > 399" as one number.)

local threads = {}
local base_setup = setup
function setup(thread)
  base_setup(thread)
  table.insert(threads, thread)
end

-- Runs in each thread's own state; done() collects the tables.
statuses = {}
function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

local base_done = done
function done(summary, latency, requests)
  base_done(summary, latency, requests)
  local total = {}
  for _, t in ipairs(threads) do
    local s = t:get("statuses")
    if s then
      for code, n in pairs(s) do
        total[code] = (total[code] or 0) + n
      end
    end
  end
  local codes = {}
  for code in pairs(total) do
    table.insert(codes, code)
  end
  table.sort(codes)
  local parts = {}
  for _, code in ipairs(codes) do
    table.insert(parts, string.format("%d=%d", code, total[code]))
  end
  io.write("WRK_STATUS " .. table.concat(parts, " ") .. "\n")
end
