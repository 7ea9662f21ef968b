-- A mixed shopper load: storefront and product pages, checkouts, downloads, across stores.
-- Each line of the plan file: METHOD \t HOST \t PATH \t COOKIE \t BODY (body/cookie may be empty).
local counter = 0
function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
end

function init(args)
  plan = {}
  for line in io.lines(args[1]) do
    local method, host, path, cookie, body = line:match("^(.-)\t(.-)\t(.-)\t(.-)\t(.*)$")
    -- A browser's User-Agent: product page views are counted as a shopper's would be
    -- (catalog.pageviews counts no request without one, as it counts no bot).
    local headers = { ["Host"] = host, ["User-Agent"] = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0 Safari/537.36" }
    if cookie ~= "" then headers["Cookie"] = cookie end
    if method == "POST" then
      headers["Content-Type"] = "application/x-www-form-urlencoded"
      headers["Referer"] = "http://" .. host .. "/"
    end
    plan[#plan + 1] = wrk.format(method, path, headers, body ~= "" and body or nil)
  end
  index = (tid * 7919) % #plan
end

function request()
  index = index % #plan + 1
  return plan[index]
end

function done(summary, latency, requests)
  io.write(string.format("LOAD p50_ms=%.1f p95_ms=%.1f p99_ms=%.1f max_ms=%.1f\n",
    latency:percentile(50) / 1000, latency:percentile(95) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000))
  io.write(string.format("LOAD errors connect=%d read=%d write=%d status=%d timeout=%d\n",
    summary.errors.connect, summary.errors.read, summary.errors.write,
    summary.errors.status, summary.errors.timeout))
end
