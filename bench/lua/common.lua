-- Shared by every scenario: count successful responses per thread, report JSON from done().
threads = {}
function setup(thread)
  table.insert(threads, thread)
  thread:set("id", #threads)
end

function report(summary, latency)
  local ok = 0
  for _, t in ipairs(threads) do ok = ok + t:get("ok") end
  io.write(string.format(
    '\nRESULT {"ok": %d, "requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, "errors": %d}\n',
    ok, summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end

function done(summary, latency, requests) report(summary, latency) end
