-- bench/http_sale.lua: wrk script for durable sales over HTTP: POST
-- /v1/sales with loadgen's sales (bench/http_workload.lua: 5% anonymous,
-- the member's home store 80% of the time, the store's terminal token,
-- baskets of 1..10 lines, occurred now). Returns are not sent (loadgen's
-- sale scenario sends 5%). Transaction ids are unique per wrk process,
-- thread and request: RUN-PID.START-tTHREAD-N (each wrk thread has its own
-- Lua state and counter; the process id and start second tell a warm-up run
-- from the measured one under the same RUN).
--
--   wrk -t 2 -c 64 -d 20s -s bench/http_sale.lua http://127.0.0.1:PORT \
--       -- members=20000 stores=20 terminal_token_prefix=P run_id=R [anonymous_share=0.05]
--
-- Prints one WRK_RESULT line at the end (bench/run.sh parses it).
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
package.path = dir .. "?.lua;" .. package.path
local W = require "http_workload"

setup = W.NumberThreads()  -- each thread's Lua state gets its thread_id

local work, prefix, txn_prefix, anonymous_share
local counter = 0
local headers_of_store = {}

function init(args)
  local a = W.ParseArgs(args)
  work = W.new(tonumber(a.members or "20000"), tonumber(a.stores or "20"), 3)
  prefix = assert(a.terminal_token_prefix, "terminal_token_prefix=... is required")
  local stat = assert(io.open("/proc/self/stat"))
  local pid = stat:read("*n")
  stat:close()
  txn_prefix = string.format("%s-%d.%d-t%d-", assert(a.run_id, "run_id=... is required"), pid, os.time(), thread_id)
  anonymous_share = tonumber(a.anonymous_share or "0.05")
  for s = 1, work.stores do
    headers_of_store[s] = { ["Authorization"] = "Bearer " .. prefix .. s, ["Content-Type"] = "application/json" }
  end
  math.randomseed(os.time() * 1000 + thread_id * 7919 + 29)
end

function request()
  local member = -1
  if math.random() >= anonymous_share then member = work:PickMember() end
  local store = work:PickStore(member)
  local body = work:SaleJson(store, member, txn_prefix .. counter)
  counter = counter + 1
  return wrk.format("POST", "/v1/sales", headers_of_store[store], body)
end

function done(summary, latency, requests)
  W.PrintResult(summary, latency)
end
