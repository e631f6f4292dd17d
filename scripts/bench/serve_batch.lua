-- wrk script: POST batches of transactions to /v1/score/batch (same body fields as
-- ../shared/peers/wrk/score.lua, BATCH transactions per request, default 1000).
--   BATCH=1000 wrk -t2 -c4 -d15s --latency -s serve_batch.lua http://127.0.0.1:PORT
local counter = 0
local batch = tonumber(os.getenv("BATCH") or "1000")
local token = os.getenv("TXG_TOKEN")
local thread_tag = 0

function init(args)
  math.randomseed(os.time() + (tonumber(tostring({}):sub(8)) or 0))
  thread_tag = math.random(1, 1e9)
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  if token then wrk.headers["Authorization"] = "Bearer " .. token end
end

function request()
  local parts = {}
  for i = 1, batch do
    counter = counter + 1
    parts[i] = string.format(
      '{"transaction_id":"b%d-%d","timestamp":%d,"customer_id":"C%d","terminal_id":"T%d","amount":%.2f}',
      thread_tag, counter, 1522540800 + counter, math.random(0, 4999), math.random(0, 9999),
      math.random() * 200)
  end
  return wrk.format(nil, "/v1/score/batch", nil, '{"transactions":[' .. table.concat(parts, ",") .. ']}')
end
