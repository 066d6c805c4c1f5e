-- report.lua's counting, plus a page number no earlier request had
-- ("&page=<thread><n>"; the page cache keys on q/category/language/sort/page,
-- and an out-of-range page shows the last one), so the whole-page cache misses
-- on every request: what a stream of distinct searches costs.

local here = debug.getinfo(1, "S").source:sub(2):match("(.*/)") or "./"
dofile(here .. "report.lua")

local report_setup, report_init = setup, init
local thread_count = 0

function setup(thread)
  report_setup(thread)
  thread_count = thread_count + 1
  thread:set("tid", thread_count)
end

function init(args)
  report_init(args)
  sent = 0
end

function request()
  sent = sent + 1
  local sep = string.find(wrk.path, "?", 1, true) and "&" or "?"
  return wrk.format(nil, wrk.path .. sep .. "page=" .. (tid * 10000000 + sent))
end
