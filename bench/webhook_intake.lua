-- Replays pre-signed Stripe events (one per line: JSON body, a tab, the signature header).
-- Thread n sends lines n, n+threads, n+2*threads…, so no event id is sent twice.
local counter = 0

function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
end

function init(args)
  requests = {}
  for line in io.lines(args[1]) do
    local body, sig = line:match("^(.-)\t(.*)$")
    requests[#requests + 1] = wrk.format("POST", "/stripe/webhook/", {
      ["Content-Type"] = "application/json",
      ["Stripe-Signature"] = sig,
    }, body)
  end
  step = tonumber(args[2] or "2")
  index = tid + 1
end

function request()
  local r = requests[index]
  index = index + step
  if index > #requests then index = tid + 1 end
  return r
end
