-- One fixed form POST (client credentials, introspection), or BENCH_BODIES: several bodies (one per
-- line) sent in turn (password logins of several users). Success: BENCH_OK status.
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")
wrk.method = "POST"
wrk.body = os.getenv("BENCH_BODY")
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
if os.getenv("BENCH_AUTH") then wrk.headers["Authorization"] = os.getenv("BENCH_AUTH") end
if os.getenv("BENCH_COOKIE") then wrk.headers["Cookie"] = os.getenv("BENCH_COOKIE") end
local want = tonumber(os.getenv("BENCH_OK") or "200")
local must_contain = os.getenv("BENCH_MUST_CONTAIN")

local bodies = {}
for line in (os.getenv("BENCH_BODIES") or ""):gmatch("[^\n]+") do table.insert(bodies, line) end

function init(args)
  ok = 0
  turn = 0
end

if #bodies > 0 then
  function request()
    turn = turn + 1
    return wrk.format(nil, nil, nil, bodies[(turn % #bodies) + 1])
  end
end
function response(status, headers, body)
  if status == want and (must_contain == nil or string.find(body, must_contain, 1, true)) then ok = ok + 1 end
end
