-- wrk script of the serving benchmark: POST the JSON body in the file named by WRK_BODY and, at
-- the end, print one line "BENCH_JSON {...}" with the figures serve_bench.py reads (times in us).
local file = assert(io.open(assert(os.getenv("WRK_BODY"), "WRK_BODY is not set"), "rb"))
wrk.method = "POST"
wrk.body = file:read("*a")
file:close()
wrk.headers["Content-Type"] = "application/json"

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests": %d, "duration_us": %d, "bytes": %d, ' ..
    '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, ' ..
    '"p50_us": %.0f, "p90_us": %.0f, "p99_us": %.0f, "mean_us": %.1f, "max_us": %.0f}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.mean, latency.max))
end
