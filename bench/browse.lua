-- Replays request paths (bench/browse.py writes them, one per line) from a start line, wrapping
-- around at the end, with an Accept-Encoding when given: wrk -s browse.lua URL -- PATHS_FILE START [ENCODINGS]
local paths = {}
local next_path = 0
local headers = {}

function init(args)
  for line in io.lines(args[1]) do
    paths[#paths + 1] = line
  end
  next_path = tonumber(args[2]) or 0
  if args[3] then
    headers["Accept-Encoding"] = args[3]
  end
end

function request()
  next_path = next_path % #paths + 1
  return wrk.format("GET", paths[next_path], headers)
end
