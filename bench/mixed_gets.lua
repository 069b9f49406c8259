-- wrk script for the soak run of http_load.sh: rotates over the three GET
-- endpoints and counts non-2xx answers.
local paths = {"/api/tickerlist", "/api/recommendations", "/api/performance"}
local i = 0
request = function()
  i = i + 1
  return wrk.format("GET", paths[(i % #paths) + 1])
end
