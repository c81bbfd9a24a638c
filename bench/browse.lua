-- Replays request paths (bench/browse.py writes them, one per line) from a start line, wrapping
-- around at the end: wrk -s browse.lua URL -- PATHS_FILE START
local paths = {}
local next_path = 0

function init(args)
  for line in io.lines(args[1]) do
    paths[#paths + 1] = line
  end
  next_path = tonumber(args[2]) or 0
end

function request()
  next_path = next_path % #paths + 1
  return wrk.format("GET", paths[next_path])
end
