-- Shared helpers for the wrk scripts (see run.sh). Loaded with dofile().
local b64chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
function b64(data)
  return ((data:gsub(".", function(x)
    local r, b = "", x:byte()
    for i = 8, 1, -1 do r = r .. (b % 2 ^ i - b % 2 ^ (i - 1) > 0 and "1" or "0") end
    return r
  end) .. "0000"):gsub("%d%d%d?%d?%d?%d?", function(x)
    if #x < 6 then return "" end
    local c = 0
    for i = 1, 6 do c = c + (x:sub(i, i) == "1" and 2 ^ (6 - i) or 0) end
    return b64chars:sub(c + 1, c + 1)
  end) .. ({ "", "==", "=" })[#data % 3 + 1])
end
-- A ~100-byte English-like value that differs per request (so documents have real terms).
local words = { "alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel",
  "india", "juliet", "kilo", "lima", "mike", "november", "oscar", "papa" }
function value_for(i)
  local t = {}
  local x = i
  for j = 1, 12 do
    t[j] = words[(x % 16) + 1]
    x = math.floor(x / 3) + j
  end
  local s = table.concat(t, " ")
  return (s .. " the quick brown fox jumps over the lazy dog"):sub(1, 100)
end
