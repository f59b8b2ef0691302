-- wrk script: one random, aligned byte range per request, and a machine-readable summary line.
-- BENCH_FILE_SIZE: the served file's length; BENCH_RANGE_SIZE: bytes per range.
local file_size = tonumber(os.getenv("BENCH_FILE_SIZE"))
local range_size = tonumber(os.getenv("BENCH_RANGE_SIZE"))
local slots = math.floor(file_size / range_size)
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("seed", counter)
end

function init(args)
  math.randomseed(seed * 7919)
end

function request()
  local first = math.random(0, slots - 1) * range_size
  return wrk.format("GET", nil, { ["Range"] = "bytes=" .. first .. "-" .. (first + range_size - 1) })
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT requests=%d bytes=%d duration_us=%d errors=%d non2xx=%d p50_us=%d p99_us=%d\n",
    summary.requests, summary.bytes, summary.duration, e.connect + e.read + e.write + e.timeout, e.status,
    latency:percentile(50), latency:percentile(99)))
end
