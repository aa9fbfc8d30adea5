-- wrk script for bench/harness.py: POSTs the file $WRK_BODY to the URL wrk
-- was given, as a raw body (what the ESP-EYE sends), counts answers by
-- status in every thread, and prints one machine-readable line at the end:
--   WRKJSON {"ok":..,"bad":..,"requests":..,"errors":{..},"p50_us":..,...}
local f = assert(io.open(os.getenv("WRK_BODY"), "rb"))
wrk.method = "POST"
wrk.body = f:read("*all")
f:close()
wrk.headers["Content-Type"] = "application/octet-stream"
-- WRK_CLOSE=1: a new connection for every request (connection churn).
if os.getenv("WRK_CLOSE") == "1" then
  wrk.headers["Connection"] = "close"
end

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  ok = 0
  bad = 0
end

function response(status, headers, body)
  if status == 200 then
    ok = ok + 1
  else
    bad = bad + 1
  end
end

function done(summary, latency, requests)
  local o, b = 0, 0
  for _, t in ipairs(threads) do
    o = o + t:get("ok")
    b = b + t:get("bad")
  end
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"ok":%d,"bad":%d,"requests":%d,"duration_us":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"p50_us":%d,"p90_us":%d,"p99_us":%d,"mean_us":%.1f,"max_us":%d}\n',
    o, b, summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.mean, latency.max))
end
