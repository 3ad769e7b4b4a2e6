-- wrk script: POSTs one GraphQL request (BODY) with a bearer token (TOKEN)
-- and prints one machine-readable line when done:
-- RESULT <requests/s> <p50 ms> <p95 ms> <p99 ms> <errors> <requests> <non-2xx>
wrk.method = "POST"
wrk.body = os.getenv("BODY")
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("TOKEN")

done = function(summary, latency, requests)
  local e = summary.errors
  local seconds = summary.duration / 1e6
  io.write(string.format("RESULT %.1f %.1f %.1f %.1f %d %d %d\n",
    summary.requests / seconds,
    latency:percentile(50) / 1000, latency:percentile(95) / 1000, latency:percentile(99) / 1000,
    e.connect + e.read + e.write + e.timeout, summary.requests, e.status))
end
