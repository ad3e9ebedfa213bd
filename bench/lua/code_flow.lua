-- Authorization code + PKCE round trips with a signed-in session:
-- GET /authorize (302 with a code), then POST /token with the code and its verifier.
-- A round trip counts once its token response is 200.
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")
local authorize_path = os.getenv("BENCH_AUTHORIZE_PATH")
local token_path = os.getenv("BENCH_TOKEN_PATH")
local cookie = os.getenv("BENCH_COOKIE")
local auth = os.getenv("BENCH_AUTH")
local token_body = os.getenv("BENCH_TOKEN_BODY")

function init(args) ok = 0; codes = {} end

function request()
  local code = table.remove(codes)
  if code then
    return wrk.format("POST", token_path,
      {["Content-Type"] = "application/x-www-form-urlencoded", ["Authorization"] = auth},
      token_body .. "&code=" .. code)
  end
  return wrk.format("GET", authorize_path, {["Cookie"] = cookie}, nil)
end

function response(status, headers, body)
  if status == 302 then
    -- (granian, on hyper, sends header names in lower case)
    local location = headers["Location"] or headers["location"] or ""
    local code = string.match(location, "[?&]code=([^&]+)")
    if code then table.insert(codes, code) end
  elseif status == 200 and string.find(body, "access_token", 1, true) then
    ok = ok + 1
  end
end
