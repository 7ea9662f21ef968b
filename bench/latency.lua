-- Percentiles wrk's --latency table does not print (p95), in a line bench.common.wrk reads.
function done(summary, latency, requests)
  io.write(string.format("LATENCY p50_ms=%.1f p95_ms=%.1f p99_ms=%.1f\n",
    latency:percentile(50) / 1000, latency:percentile(95) / 1000, latency:percentile(99) / 1000))
end
