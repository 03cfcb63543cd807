-- GET /get/bench%08d over the preloaded keys (KEYS env, default 10000); QUERY env is appended
-- (e.g. "?consistency=stale").
local keys = tonumber(os.getenv("KEYS") or "10000")
local query = os.getenv("QUERY") or ""
local n = math.random(0, keys - 1)
function request()
  n = (n + 7919) % keys
  return wrk.format("GET", string.format("/get/bench%08d", n) .. query)
end
