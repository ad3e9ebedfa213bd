-- Refresh grants; every refresh token is presented exactly once (a reuse would revoke its family).
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")
local auth = os.getenv("BENCH_AUTH")
local file = os.getenv("BENCH_TOKENS")

function init(args)
  ok = 0
  tokens, next_index = {}, 1
  local nthreads = tonumber(os.getenv("BENCH_THREADS"))
  local n = 0
  for line in io.lines(file) do
    n = n + 1
    if n % nthreads == (id - 1) then table.insert(tokens, line) end
  end
end

function request()
  local token = tokens[next_index] or "exhausted"
  next_index = next_index + 1
  return wrk.format("POST", nil, {["Content-Type"] = "application/x-www-form-urlencoded", ["Authorization"] = auth},
                    "grant_type=refresh_token&refresh_token=" .. token)
end

function response(status, headers, body)
  if status == 200 and string.find(body, "refresh_token", 1, true) then ok = ok + 1 end
end
