-- etcd's JSON gateway: POST /v3/kv/put with a distinct key per request.
local dir = debug.getinfo(1, "S").source:sub(2):match("(.*/)") or "./"
dofile(dir .. "common.lua")
local prefix = tostring(os.time()) .. "-" .. tostring(math.random(1, 1e9))
local n = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
function request()
  n = n + 1
  local body = '{"key":"' .. b64("w" .. prefix .. "-" .. n) .. '","value":"' .. b64(value_for(n)) .. '"}'
  return wrk.format(nil, "/v3/kv/put", nil, body)
end
