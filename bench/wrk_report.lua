-- wrk -s bench/wrk_report.lua: one key=value line for run_bench.sh, with
-- the p99.9 that `wrk --latency` does not print.  Latencies are in us.
done = function(summary, latency, requests)
  local e = summary.errors
  local secs = summary.duration / 1e6
  io.write(string.format(
    "mode=http ok=%d secs=%.3f rate=%.1f errors=%d err_connect=%d " ..
    "err_read=%d err_write=%d err_status=%d err_timeout=%d " ..
    "p50_us=%.1f p99_us=%.1f p999_us=%.1f\n",
    summary.requests, secs, summary.requests / secs,
    e.connect + e.read + e.write + e.status + e.timeout,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99),
    latency:percentile(99.9)))
end
