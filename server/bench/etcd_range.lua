-- etcd's JSON gateway: POST /v3/kv/range over the preloaded keys (KEYS env, default 10000);
-- SERIALIZABLE=1 asks for a serializable (local, possibly stale) read instead of a linearizable one.
local dir = debug.getinfo(1, "S").source:sub(2):match("(.*/)") or "./"
dofile(dir .. "common.lua")
local keys = tonumber(os.getenv("KEYS") or "10000")
local enc = {}
local extra = (os.getenv("SERIALIZABLE") == "1") and ',"serializable":true' or ""
for i = 0, keys - 1 do enc[i] = '{"key":"' .. b64(string.format("bench%08d", i)) .. '"' .. extra .. '}' end
local n = math.random(0, keys - 1)
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
function request()
  n = (n + 7919) % keys
  return wrk.format(nil, "/v3/kv/range", nil, enc[n])
end
