-- A fixed GET (the framework floor: JWKS from the per-process cache, no database).
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")
function init(args) ok = 0 end
function response(status, headers, body) if status == 200 then ok = ok + 1 end end
