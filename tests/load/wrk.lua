-- wrk script of the load benchmark (tests/load/run.sh): every scenario, protected or not, is
-- driven through this script, so the client does the same work per request in all of them.
--
--   wrk -t T -c C -d D -s wrk.lua URL -- TOKEN_FILE T
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

function init(args)
   local file, step = args[1], tonumber(args[2] or "1")
   requests, wraps = {}, 0
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
         requests[#requests + 1] = wrk.format(nil, nil, { Authorization = "Bearer " .. lines[i] })
      end
   else
      requests[1] = wrk.format(nil, nil)
   end
   tokens, index = #requests, 0
end

function request()
   index = index + 1
   if index > tokens then
      index, wraps = 1, wraps + 1
   end
   return requests[index]
end

function done(summary, latency, _)
   local wrapped, tokens_total = 0, 0
   for _, thread in ipairs(threads) do
      wrapped = wrapped + (thread:get("wraps") or 0)
      tokens_total = tokens_total + (thread:get("tokens") or 0)
   end
   local e = summary.errors
   io.write(string.format(
      'WRKJSON {"requests": %d, "duration_us": %d, "bytes": %d, ' ..
      '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, ' ..
      '"latency_us": {"p50": %d, "p90": %d, "p99": %d, "max": %d, "mean": %.1f}, ' ..
      '"wraps": %d, "tokens": %d}\n',
      summary.requests, summary.duration, summary.bytes,
      e.connect, e.read, e.write, e.status, e.timeout,
      latency:percentile(50), latency:percentile(90), latency:percentile(99),
      latency.max, latency.mean, wrapped, tokens_total))
end
