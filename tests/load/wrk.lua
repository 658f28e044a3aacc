-- wrk script of the load benchmark (tests/load/run.sh): every scenario, protected or not, is
-- driven through this script, so the client does the same work per request in all of them.
--
--   wrk -t T -c C -d D -s wrk.lua URL -- TOKEN_FILE T
--   wrk -t T -c C -d D -s wrk.lua URL -- TOKEN_FILE T PATH_B TOKEN_FILE_B PERIOD_MS
--
-- The second form alternates between two requests in time slices ("phases") of PERIOD_MS
-- milliseconds of the monotonic clock: even phases send URL's path with TOKEN_FILE's tokens (side
-- A), odd phases PATH_B with TOKEN_FILE_B's (side B), and every request is counted in the phase it
-- is sent in. Two routes measured in alternating 100 ms slices meet the same machine: on these
-- shared hosts a vCPU's speed jumps by half from one moment to the next (the same loop takes 29 or
-- 46 ms), so two loads ten seconds apart compare the host's moods as much as the routes. Phases
-- are numbered from the clock, so two wrk processes with the same PERIOD_MS switch together.
--
-- TOKEN_FILE holds one token per line ("-" for none: no Authorization header). Each wrk thread
-- takes every T-th line (thread i the lines i, i+T, ...; all lines if there are fewer than T),
-- formats all its requests once in init(), and then sends them in turn, so with enough tokens
-- no token is sent twice in a run.
-- When a thread has sent all of its tokens it starts over and counts a "wrap".
--
-- done() prints one line "WRKJSON {...}" with the request count, the latency percentiles (in
-- microseconds), the errors and the wraps, for tests/load/bench.py to read.

local threads = {}

function setup(thread)
   thread:set("id", #threads)
   table.insert(threads, thread)
end

-- This thread's share of FILE's tokens as formatted requests for `path` (nil: the URL's path).
local function formatted(file, step, path)
   local requests = {}
   if file ~= nil and file ~= "" and file ~= "-" then
      local lines = {}
      for line in io.lines(file) do
         if line ~= "" then
            lines[#lines + 1] = line
         end
      end
      if #lines == 0 then
         error("no token in " .. file)
      end
      -- Fewer tokens than threads: every thread sends all of them.
      local first, stride = id + 1, step
      if #lines < step then
         first, stride = 1, 1
      end
      for i = first, #lines, stride do
         requests[#requests + 1] = wrk.format(nil, path, { Authorization = "Bearer " .. lines[i] })
      end
   else
      requests[1] = wrk.format(nil, path)
   end
   return requests
end

local ffi = require("ffi")
ffi.cdef [[
   typedef struct { long tv_sec; long tv_nsec; } wrk_timespec;
   int clock_gettime(int clock, wrk_timespec *now);
]]
local CLOCK_MONOTONIC, now = 1, ffi.new("wrk_timespec")

local function phase()
   ffi.C.clock_gettime(CLOCK_MONOTONIC, now)
   return math.floor((tonumber(now.tv_sec) * 1000 + tonumber(now.tv_nsec) / 1e6) / period)
end

function init(args)
   local step = tonumber(args[2] or "1")
   wraps = 0
   sides = { { requests = formatted(args[1], step, nil), index = 0 } }
   sides[1].count = #sides[1].requests
   tokens = sides[1].count
   if args[3] ~= nil then
      period = tonumber(args[5])
      sides[2] = { requests = formatted(args[4], step, args[3]), index = 0 }
      sides[2].count = #sides[2].requests
      tokens = tokens + sides[2].count
      -- Requests sent per phase; keys are phase numbers (absolute, from the clock).
      sent = {}
   end
end

function request()
   local side = sides[1]
   if period ~= nil then
      local k = phase()
      sent[k] = (sent[k] or 0) + 1
      side = sides[k % 2 + 1]
   end
   local index = side.index + 1
   if index > side.count then
      index, wraps = 1, wraps + 1
   end
   side.index = index
   return side.requests[index]
end

function done(summary, latency, _)
   local wrapped, tokens_total = 0, 0
   -- Alternating form: the requests of every phase, all threads together, as "[[phase, sent],
   -- ...]" (the first and the last phase are partial; bench.py drops them).
   local phases, keys = {}, {}
   for _, thread in ipairs(threads) do
      wrapped = wrapped + (thread:get("wraps") or 0)
      tokens_total = tokens_total + (thread:get("tokens") or 0)
      for k, n in pairs(thread:get("sent") or {}) do
         if phases[k] == nil then
            keys[#keys + 1] = k
         end
         phases[k] = (phases[k] or 0) + n
      end
   end
   table.sort(keys)
   local listed = {}
   for _, k in ipairs(keys) do
      listed[#listed + 1] = string.format("[%d, %d]", k, phases[k])
   end
   local e = summary.errors
   io.write(string.format(
      'WRKJSON {"requests": %d, "duration_us": %d, "bytes": %d, ' ..
      '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, ' ..
      '"latency_us": {"p50": %d, "p90": %d, "p99": %d, "max": %d, "mean": %.1f}, ' ..
      '"wraps": %d, "tokens": %d, "phases": [%s]}\n',
      summary.requests, summary.duration, summary.bytes,
      e.connect, e.read, e.write, e.status, e.timeout,
      latency:percentile(50), latency:percentile(90), latency:percentile(99),
      latency.max, latency.mean, wrapped, tokens_total, table.concat(listed, ", ")))
end
