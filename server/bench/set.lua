-- POST /set with a distinct key per request: wrk -s set.lua (kvstore or the bare warp map).
local dir = debug.getinfo(1, "S").source:sub(2):match("(.*/)") or "./"
dofile(dir .. "common.lua")
local prefix = tostring(os.time()) .. "-" .. tostring(math.random(1, 1e9))
local n = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
function request()
  n = n + 1
  local body = '{"key":"w' .. prefix .. "-" .. n .. '","value":"' .. value_for(n) .. '"}'
  return wrk.format(nil, "/set", nil, body)
end
