-- wrk script: POST one-entity Feast requests, a different customer each time.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local n = 0
request = function()
  n = n + 1
  local id = 1000 + (n * 7919) % 25000
  local body = '{"features":["customer_stats:total_spend","customer_stats:txn_count","customer_stats:avg_basket"],"entities":{"customer_id":[' .. id .. ']}}'
  return wrk.format(nil, "/get-online-features", nil, body)
end
