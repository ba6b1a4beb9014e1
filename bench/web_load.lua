-- wrk script of bench/web_load.py: counts answers by status in every thread and prints them with
-- the latency percentiles (machine-readable lines, read by web_load.py). With the argument
-- `post` it books trades: each request a distinct trade (its price) and Idempotency-Key.
--   wrk ... -s bench/web_load.lua URL            (GET the URL)
--   wrk ... -s bench/web_load.lua URL -- post    (POST /api/v1/trades/)

local threads = {}
local next_id = 0

function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

function init(args)
  statuses = {}
  posting = args[1] == "post"
  sent = 0
end

function request()
  if not posting then
    return wrk.format("GET")
  end
  sent = sent + 1
  local n = id * 1000000 + sent
  -- Prices 60.00 to 99.99: distinct deals, far inside the benchmark's credit limits.
  local price = string.format("%d.%02d", 60 + math.floor(n / 100) % 40, n % 100)
  local body = string.format(
    '{"book": "PEU-FLOW", "counterparty": "BENCH-CP1", "deal_type": "physical_fixed",'
      .. ' "side": "%s", "market": "eex-de-power", "quantity": "1", "price": "%s",'
      .. ' "currency": "EUR", "period": "2026-03", "trade_date": "2026-01-15",'
      .. ' "executed_at": "2026-01-15T09:30:00Z"}',
    (n % 2 == 0) and "buy" or "sell", price)
  -- wrk.format takes these headers instead of the command line's (-H): both go in.
  local headers = {}
  for name, value in pairs(wrk.headers) do
    headers[name] = value
  end
  headers["Content-Type"] = "application/json"
  headers["Idempotency-Key"] = string.format("web-load-%d-%d-%d", os.time(), id, sent)
  return wrk.format("POST", "/api/v1/trades/", headers, body)
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local total = {}
  for _, thread in ipairs(threads) do
    for status, count in pairs(thread:get("statuses")) do
      total[status] = (total[status] or 0) + count
    end
  end
  for status, count in pairs(total) do
    io.write(string.format("QZ status %d %d\n", status, count))
  end
  io.write(string.format("QZ requests %d\n", summary.requests))
  io.write(string.format("QZ duration_us %d\n", summary.duration))
  io.write(string.format("QZ socket_errors %d %d %d %d\n", summary.errors.connect,
    summary.errors.read, summary.errors.write, summary.errors.timeout))
  io.write(string.format("QZ latency_us p50 %d p99 %d max %d\n", latency:percentile(50),
    latency:percentile(99), latency.max))
end
