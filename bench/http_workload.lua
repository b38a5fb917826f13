-- bench/http_workload.lua: the load generator's members and sales
-- (bench/workload.cc) for wrk's Lua scripts bench/http_member_read.lua and
-- bench/http_sale.lua (require "http_workload").
--
-- What is a pure function of a member's index in workload.cc is the same
-- here, bit for bit: ids, cards, phones, home stores, SKU prices, and the
-- visit weights (lognormal, sigma 1.2, from std::mt19937_64 seeded with
-- Mix(m + 12345) and libstdc++'s normal_distribution), so the same members
-- are hot over HTTP as over gRPC. The draws per request (which member, which
-- basket) come from this Lua state's own random stream (math.random, seeded
-- per wrk thread), with workload.cc's distributions.
--
-- Needs LuaJIT 2.1 (wrk's Lua): 64-bit integer cdata and the bit library
-- on them.
local ffi = require "ffi"
local bit = require "bit"

local M = {}

local U64 = ffi.typeof("uint64_t")
local bxor, band, bor, rshift, lshift = bit.bxor, bit.band, bit.bor, bit.rshift, bit.lshift

-- splitmix64, as workload.cc's Mix.
local function Mix(x)
  x = U64(x) + 0x9e3779b97f4a7c15ULL
  x = bxor(x, rshift(x, 30)) * 0xbf58476d1ce4e5b9ULL
  x = bxor(x, rshift(x, 27)) * 0x94d049bb133111ebULL
  return bxor(x, rshift(x, 31))
end
M.Mix = Mix

-- The first outputs of std::mt19937_64(seed). Output k (k < 156) of the
-- first twist needs only initial words k, k+1 and k+156, so a few draws
-- cost about 160 seeding steps instead of the whole 312-word state.
local MT_N, MT_M = 312, 156
local MT_UPPER, MT_LOWER = 0xFFFFFFFF80000000ULL, 0x7FFFFFFFULL
local MT_A = 0xB5026F5AA96619E9ULL
local function Mt64(seed)
  local words = { [0] = U64(seed) }
  local seeded = 0
  local next_out = 0
  local function word(i)
    while seeded < i do
      local prev = words[seeded]
      seeded = seeded + 1
      words[seeded] = 6364136223846793005ULL * bxor(prev, rshift(prev, 62)) + seeded
    end
    return words[i]
  end
  return function()
    local k = next_out
    assert(k < MT_N - MT_M, "Mt64: only the first 156 outputs")
    next_out = k + 1
    local y = bor(band(word(k), MT_UPPER), band(word(k + 1), MT_LOWER))
    local z = bxor(word(k + MT_M), rshift(y, 1))
    if band(y, 1ULL) ~= 0ULL then z = bxor(z, MT_A) end
    -- Tempering.
    z = bxor(z, band(rshift(z, 29), 0x5555555555555555ULL))
    z = bxor(z, band(lshift(z, 17), 0x71D67FFFEDA60000ULL))
    z = bxor(z, band(lshift(z, 37), 0xFFF7EEE000000000ULL))
    z = bxor(z, rshift(z, 43))
    return z
  end
end

local TWO_64 = 18446744073709551616.0
-- std::generate_canonical<double, 53> over a 64-bit engine: one draw / 2^64.
local function Canonical(next_u64)
  local r = tonumber(next_u64()) / TWO_64
  if r >= 1.0 then r = 1.0 - 2 ^ -53 end
  return r
end

-- libstdc++'s normal_distribution (Marsaglia's polar method), first value.
local function FirstNormal(next_u64)
  while true do
    local x = 2.0 * Canonical(next_u64) - 1.0
    local y = 2.0 * Canonical(next_u64) - 1.0
    local r2 = x * x + y * y
    if r2 <= 1.0 and r2 ~= 0.0 then
      return y * math.sqrt(-2 * math.log(r2) / r2)
    end
  end
end

local VISIT_RATE_SIGMA = 1.2
local HOME_STORE_SHARE = 0.8
local DISCOUNTED_LINE_SHARE = 0.1
local SKUS_PER_CATEGORY = 40
local CATEGORIES = { "coffee", "bakery", "dairy", "produce", "household", "snacks", "wine" }
local LINE_WEIGHTS = { 22, 20, 16, 12, 9, 7, 5, 4, 3, 2 }

-- Workload(options): members, stores, terminals_per_store.
function M.new(members, stores, terminals_per_store)
  local w = { members = members, stores = stores, terminals = terminals_per_store or 3 }
  local cumulative = {}
  local total = 0.0
  for m = 0, math.max(1, members) - 1 do
    total = total + math.exp(VISIT_RATE_SIGMA * FirstNormal(Mt64(Mix(m + 12345))))
    cumulative[m + 1] = total
  end
  w.cumulative = cumulative
  w.total_weight = total
  return setmetatable(w, { __index = M })
end

-- A member index in [0, members), weighted by visit frequency
-- (upper_bound over the cumulative weights, as Workload::PickMember).
function M:PickMember()
  local x = math.random() * self.total_weight
  local c = self.cumulative
  local lo, hi = 1, #c + 1  -- first index with c[i] > x
  while lo < hi do
    local mid = math.floor((lo + hi) / 2)
    if c[mid] > x then hi = mid else lo = mid + 1 end
  end
  return math.min(lo, #c) - 1
end

function M:HomeStore(member)
  return 1 + tonumber(Mix(member + 777) % U64(self.stores))
end

function M:PickStore(member)
  if member >= 0 and math.random() < HOME_STORE_SHARE then return self:HomeStore(member) end
  return math.random(1, self.stores)
end

function M.MemberId(m) return string.format("bm-%07d", m) end
function M.Card(m) return string.format("6%015d", m) end
function M.Phone(m) return string.format("+49179%08d", m) end
function M.StoreId(s) return "store-" .. s end
function M.TerminalId(t) return "t-" .. t end

local function PriceOf(category, sku)  -- category 0-based, as workload.cc
  local base = category == 6 and 600 or 80
  return base + tonumber(Mix(category * 1000 + sku) % 1900ULL)
end
M.PriceOf = PriceOf

-- The member as a JSON MemberIdentifier: card 70%, member id 20%, phone 10%.
function M.IdentifyJson(m)
  local roll = math.random(1, 10)
  if roll <= 7 then return '{"card_number":"' .. M.Card(m) .. '"}' end
  if roll <= 9 then return '{"member_id":"' .. M.MemberId(m) .. '"}' end
  return '{"phone":"' .. M.Phone(m) .. '"}'
end

-- RFC 3339 UTC "now", to the second (remade once a second).
local stamp_second, stamp_text = -1, ""
function M.NowRfc3339()
  local t = os.time()
  if t ~= stamp_second then
    stamp_second = t
    stamp_text = os.date("!%Y-%m-%dT%H:%M:%SZ", t)
  end
  return stamp_text
end

-- A basket of 1..10 lines as workload.cc's FillBasket(false, ...): JSON
-- array text, and the sum of the line net amounts.
function M.BasketJson()
  local roll = math.random(1, 100)
  local count = 1
  for i = 1, #LINE_WEIGHTS do
    roll = roll - LINE_WEIGHTS[i]
    if roll <= 0 then
      count = i
      break
    end
  end
  local lines = {}
  local net = 0
  for i = 1, count do
    local c = math.random(0, #CATEGORIES - 1)
    local category = CATEGORIES[c + 1]
    local sku = math.random(1, SKUS_PER_CATEGORY)
    local q = math.random(1, 100)
    local quantity = q <= 75 and 1 or (q <= 93 and 2 or math.random(3, 5))
    local price = PriceOf(c, sku)
    local discount = 0
    if math.random() < DISCOUNTED_LINE_SHARE then discount = math.floor(quantity * price / 10) end
    net = net + quantity * price - discount
    lines[i] = string.format('{"sku":"%s-%d","category":"%s","quantity":%d,"unit_price_minor":"%d"%s}', category,
                             sku, category, quantity, price,
                             discount > 0 and string.format(',"discount_minor":"%d"', discount) or "")
  end
  return "[" .. table.concat(lines, ",") .. "]", net
end

-- A sale as workload.cc's MakeSale(store, member, 0), proto3 JSON.
-- member < 0: anonymous.
function M:SaleJson(store, member, transaction_id)
  local lines, net = M.BasketJson()
  local parts = {
    '{"ref":{"store_id":"', M.StoreId(store), '","terminal_id":"', M.TerminalId(math.random(1, self.terminals)),
    '","transaction_id":"', transaction_id, '"},"occurred_at":"', M.NowRfc3339(), '"',
  }
  if member >= 0 then parts[#parts + 1] = ',"member":' .. M.IdentifyJson(member) end
  parts[#parts + 1] = string.format(',"currency":"EUR","total_minor":"%d","lines":%s', net, lines)
  if net > 0 then
    local tender = math.random() < 0.7 and "TENDER_TYPE_CARD" or "TENDER_TYPE_CASH"
    parts[#parts + 1] = string.format(',"tenders":[{"type":"%s","amount_minor":"%d"}]', tender, net)
  end
  parts[#parts + 1] = "}"
  return table.concat(parts)
end

-- "key=value" script arguments (wrk ... -- key=value ...) as a table.
function M.ParseArgs(args)
  local out = {}
  for _, a in ipairs(args or {}) do
    local k, v = a:match("^([%w_]+)=(.*)$")
    assert(k, "argument '" .. a .. "' is not key=value")
    out[k] = v
  end
  return out
end

-- The line run.sh parses, from wrk's done(summary, latency, requests):
-- requests/s over the run, latency percentiles in microseconds, and every
-- kind of error wrk counts (non2xx: wrk's "Non-2xx or 3xx", status > 399).
function M.PrintResult(summary, latency)
  local e = summary.errors
  local seconds = summary.duration / 1e6
  io.write(string.format(
    "WRK_RESULT requests=%d duration_s=%.2f requests_per_s=%.1f p50_us=%d p90_us=%d p99_us=%d p999_us=%d " ..
    "max_us=%d mean_us=%.0f non2xx=%d connect_errors=%d read_errors=%d write_errors=%d timeouts=%d\n",
    summary.requests, seconds, summary.requests / seconds, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency:percentile(99.9), latency.max, latency.mean, e.status, e.connect, e.read,
    e.write, e.timeout))
end

-- wrk's setup(thread): gives each thread's Lua state a global thread_id
-- (0, 1, ...), for ids unique per thread and per-thread random seeds.
function M.NumberThreads()
  local next_thread = 0
  return function(thread)
    thread:set("thread_id", next_thread)
    next_thread = next_thread + 1
  end
end

return M
