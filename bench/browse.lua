-- Replays request paths (bench/browse.py writes them, one per line) from a start line, wrapping
-- around at the end, with an Accept-Encoding when given (or ""), each connection pausing DELAY_MS
-- between its requests when given (a steady offered load instead of as fast as the server goes):
--   wrk -s browse.lua URL -- PATHS_FILE START [ENCODINGS [DELAY_MS]]
local paths = {}
local next_path = 0
local headers = {}
local pause_ms = nil

function init(args)
  for line in io.lines(args[1]) do
    paths[#paths + 1] = line
  end
  next_path = tonumber(args[2]) or 0
  if args[3] and args[3] ~= "" then
    headers["Accept-Encoding"] = args[3]
  end
  pause_ms = tonumber(args[4])
  if pause_ms then
    delay = function()
      return pause_ms
    end
  end
end

function request()
  next_path = next_path % #paths + 1
  return wrk.format("GET", paths[next_path], headers)
end
