-- wrk script of bench_search.py's "fresh" variant: each request a search never asked before. To the URL's
-- own search it adds taken_to, a date that moves on a day each request and lies past every photo's, so
-- that each request finds the same photos in the same order (and a deep page's cursor stays right) while
-- no page of it is in the gallery's cache. Run with one wrk thread (each thread counts on its own).
local n = 0
local start = 4102444800 -- 2100-01-01T00:00:00Z

request = function()
  n = n + 1
  return wrk.format(nil, wrk.path .. "&taken_to=" .. os.date("!%Y-%m-%d", start + n * 86400))
end
