-- wrk script for the closed-loop saturation run: rotate the lane header
-- over v1, v2, v3 (pre-formatted requests, so rotation costs a table
-- lookup), and print the summary as one JSON line for bench/load measure.
local requests = {}
local n = 0

function init(args)
  for _, lane in ipairs({"v1", "v2", "v3"}) do
    requests[#requests + 1] = wrk.format("GET", nil, {["x-asm-prefer-tag"] = lane})
  end
end

function request()
  n = n % #requests + 1
  return requests[n]
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests":%d,"duration_us":%d,"bytes":%d,"rps":%.1f,' ..
    '"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d}}\n',
    summary.requests, summary.duration, summary.bytes,
    summary.requests / (summary.duration / 1e6),
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    e.connect, e.read, e.write, e.status, e.timeout))
end
