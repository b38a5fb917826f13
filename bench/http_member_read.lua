-- bench/http_member_read.lua: wrk script for member reads over HTTP, the
-- loadgen member-read scenario's mix: GET /v1/members/{id} (75%) and
-- GET /v1/members/{id}/offers (25%), with the admin token, members drawn
-- with loadgen's heavy tail (bench/http_workload.lua).
--
--   wrk -t 2 -c 32 -d 20s -s bench/http_member_read.lua http://127.0.0.1:PORT \
--       -- members=20000 admin_token=T [list_offers_share=0.25]
--
-- Prints one WRK_RESULT line at the end (bench/run.sh parses it).
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
package.path = dir .. "?.lua;" .. package.path
local W = require "http_workload"

setup = W.NumberThreads()  -- each thread's Lua state gets its thread_id

local work, headers, offers_share

function init(args)
  local a = W.ParseArgs(args)
  work = W.new(tonumber(a.members or "20000"), 1)
  headers = { ["Authorization"] = "Bearer " .. assert(a.admin_token, "admin_token=... is required") }
  offers_share = tonumber(a.list_offers_share or "0.25")
  math.randomseed(os.time() * 1000 + thread_id * 7919 + 17)
end

function request()
  local path = "/v1/members/" .. W.MemberId(work:PickMember())
  if math.random() < offers_share then path = path .. "/offers" end
  return wrk.format("GET", path, headers)
end

function done(summary, latency, requests)
  W.PrintResult(summary, latency)
end
