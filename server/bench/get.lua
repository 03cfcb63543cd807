-- GET /get/bench%08d over the preloaded keys (KEYS env, default 10000).
local keys = tonumber(os.getenv("KEYS") or "10000")
local n = math.random(0, keys - 1)
function request()
  n = (n + 7919) % keys
  return wrk.format("GET", string.format("/get/bench%08d", n))
end
