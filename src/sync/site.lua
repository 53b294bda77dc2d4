-- visitor-counter: one call of one counter against its site's state (schema 3).
--
-- Run with EVALSHA (see `sync/redis.rs`). Applies a part of page views, once, and answers with
-- the names of the site's records that changed since the counter last read. Instants are whole
-- microseconds since the Unix epoch: Lua's numbers hold them exactly for centuries.
--
-- KEYS: every key the call may write (see `sync/redis.rs`); KEYS[1] is the site's `cfg`.
-- ARGV:
--  1 schema                 2 the site's key prefix, "vc:{<site>}:"
--  3 counter id (hex)       4 seq (0: nothing to apply)      5 the part's digest (hex)
--  6 the counter's clock (us)
--  7 since (the change number the counter has read up to)
--  8 the counter's marker (see `mk`; empty: none)            9 its change number
-- 10 change names to answer at most (0: none)
-- 11 zone  12 week start  13 online window (us)  14 session timeout (us)  15 dedup window (us)
-- 16 initial visits       17 initial page views
-- 18 a random token for this call's marker
-- 19 the part (binary, see `sync/batch.rs`)
-- 20 '1' to apply a part whose number is not the one after the last applied ('0': answer
--    `gap` instead: the site lost parts of this counter, which it sends first)
--
-- Keys under the prefix:
--  cfg             hash: the site's calendar and windows, its epoch (when and by whom created);
--                  `lc` the latest clock a call brought (the older of the counter's and the
--                  server's), `pause` and `pause_end` the last pause in calls longer than a
--                  minute (an outage), with any pause still in force before it, and when it ended
--  c:<id>          hash: a counter's last applied seq `a`, and `d<seq>` the digests of its last
--                  32 parts (a part with a known seq but another digest is another counter's)
--  v:<key>         a visitor's refresh dedup: up to 32 (article, instant) of the views counted
--                  less than a dedup window before its latest (written when a view counts, to
--                  live a dedup window and `LATE`)
--  on              zset: visitor key -> last page view, for online and for visits
--  s:<kind>:<pkey> a period's summary: v visits, p page views, u distinct visitors, o 1 once
--                  its exact set overflowed, e visitors counted alone by a counter past its
--                  bound (days only)
--  x:<kind>:<pkey> a period's distinct visitors while at most 1000 (set of visitor keys)
--  h:<kind>:<pkey> a period's distinct visitors as a HyperLogLog (always)
--  A:<art>         an article's counted views: d:<day>, w:<week>, m:<month>, y:<year>, t
--  ch              zset: changed record (s:... or A:...) -> change number; `chc` the cursor of
--                  its cleanup
--  n               the last change number
--  mk              zset: markers, <token> -> a change number: a call that answers adds one for
--                  the last change number if it has none; the last 10,000 are kept. A counter
--                  keeps the marker at or after what it read, and shows it: if it is gone, the
--                  site lost writes the counter had read.
-- kind: d day, w week, m month, y year, t total (period key 0).

local P = ARGV[2]
local SCHEMA = '3'
local EXACT = 1000
local ENTRY_ARTICLES = 32
local DIGESTS = 32
local MARKERS = 10000
-- How late (us) page views may reach the site and still find their visitor's last page view
-- in `on` and its refresh dedup: one counter that could not reach Redis for that long. (When
-- no counter could, the pause in calls is added: see `pause`.)
local LATE = 300000000
-- A pause in calls longer than this (us) is an outage (counters call every sync interval,
-- which must be shorter).
local PAUSE = 60000000
local DAY = 86400
-- A run's prior page view when there is none (see `sync/batch.rs`).
local NONE = -9007199254740992

-- How long each kind's summary and sets live (seconds); a total never expires.
local SUMMARY_TTL = { d = 514 * DAY, w = 3 * 7 * DAY, m = 100 * DAY, y = 800 * DAY }
local SET_TTL = { d = 3 * DAY, w = 3 * 7 * DAY, m = 70 * DAY, y = 800 * DAY }
local COUNTER_TTL = 30 * DAY

local t = redis.call('TIME')
local server_us = tonumber(t[1]) * 1000000 + tonumber(t[2])
local now_us = tonumber(ARGV[6])

-- The site: created by the first counter, checked for every other one.
local cfg = P .. 'cfg'
local mine = { ARGV[11], ARGV[12], ARGV[13], ARGV[14], ARGV[15], SCHEMA }
local names = { 'zone', 'week_start', 'online_window_us', 'session_timeout_us', 'dedup_window_us', 'schema' }
local site = redis.call('HMGET', cfg, names[1], names[2], names[3], names[4], names[5], names[6], 'epoch',
  'lc', 'pause', 'pause_end')
local epoch = site[7]
local changes, nchanges = {}, 0
local function changed(name)
  if not changes[name] then
    changes[name] = true
    nchanges = nchanges + 1
  end
end
if not epoch then
  epoch = t[1] .. '.' .. t[2] .. '.' .. ARGV[3]
  redis.call('HSET', cfg, names[1], mine[1], names[2], mine[2], names[3], mine[3], names[4], mine[4],
    names[5], mine[5], names[6], mine[6], 'epoch', epoch)
  if ARGV[16] ~= '0' or ARGV[17] ~= '0' then
    redis.call('HINCRBY', P .. 's:t:0', 'v', ARGV[16])
    redis.call('HINCRBY', P .. 's:t:0', 'p', ARGV[17])
    changed('s:t:0')
  end
else
  for i = 1, 6 do
    if site[i] ~= mine[i] then
      return redis.error_reply('VC_SITE ' .. names[i] .. ': the site has ' .. tostring(site[i]) ..
        ', this counter ' .. mine[i])
    end
  end
end

local seq = tonumber(ARGV[4])
local ck = P .. 'c:' .. ARGV[3]
local applied = tonumber(redis.call('HGET', ck, 'a') or '0')
local claimed, gap = 0, 0

-- Reads the part (raising an error if it cannot be read): its days, visitors and views counted
-- alone. One `struct.unpack` per record of the part.
local function parse(part)
  local unpack_at = struct.unpack
  -- Days: their period keys, and the counts sent as counts.
  local n, pos = unpack_at('<I4', part)
  local days = {}
  for i = 1, n do
    local dk, wk, mk, yk, page_views, visits, alone
    dk, wk, mk, yk, page_views, visits, alone, pos = unpack_at('<i4i4i4i4i8i8i8', part, pos)
    days[i] = { day = dk, names = { 'd:' .. dk, 'w:' .. wk, 'm:' .. mk, 'y:' .. yk, 't:0' },
      page_views = page_views, visits = visits, alone = alone, fresh = {} }
  end
  local function day(i)
    local d = days[i]
    if not d then
      error('no such day')
    end
    return d
  end
  -- Visitors: key, last page view, runs (day, instant, prior page view or NONE), views
  -- (article, day, instant).
  local visitors = {}
  n, pos = unpack_at('<I4', part, pos)
  for i = 1, n do
    local key, last, nruns, nviews
    key, last, nruns, nviews, pos = unpack_at('c8<i8I2I2', part, pos)
    local runs, views = {}, {}
    for j = 1, nruns do
      local d, at, prior
      d, at, prior, pos = unpack_at('<I2i8i8', part, pos)
      runs[j] = { day = day(d), at = at, prior = prior }
    end
    for j = 1, nviews do
      local art, d, at
      art, d, at, pos = unpack_at('c8<I2i8', part, pos)
      views[j] = { art = art, day = day(d), at = at }
    end
    visitors[i] = { key = key, last = last, runs = runs, views = views }
  end
  local alone = {}
  n, pos = unpack_at('<I4', part, pos)
  for i = 1, n do
    local art, d, count
    art, d, count, pos = unpack_at('c8<I2I4', part, pos)
    alone[i] = { art = art, day = day(d), n = count }
  end
  if pos ~= #part + 1 then
    error('bytes left over')
  end
  return days, visitors, alone
end

-- Runs `command` with up to two leading arguments `a`, `b` (a key, a flag) over `args`, `n` of
-- them a call (even, for pairs): the list replies in order.
local function batched(command, n, args, a, b)
  local out = {}
  for i = 1, #args, n do
    local last = math.min(i + n - 1, #args)
    local got
    if b then
      got = redis.call(command, a, b, unpack(args, i, last))
    elseif a then
      got = redis.call(command, a, unpack(args, i, last))
    else
      got = redis.call(command, unpack(args, i, last))
    end
    if type(got) == 'table' then
      for j = 1, #got do
        out[i + j - 1] = got[j]
      end
    end
  end
  return out
end

-- Applies a part that was read.
local function apply(days, visitors, alone)
  local session_us, dedup_us = tonumber(ARGV[14]), tonumber(ARGV[15])
  local entry_ms = string.format('%d', (dedup_us + LATE) / 1000)

  -- What the site knows of the part's visitors, read at once: the last page view (from `on`)
  -- of those whose runs may start a visit, the entry of those that viewed articles (with
  -- refresh dedup: without it there are none).
  local dedup = dedup_us > 0
  local with_runs, entry_keys = {}, {}
  for _, v in ipairs(visitors) do
    if #v.runs > 0 then
      with_runs[#with_runs + 1] = v.key
    end
    if dedup and #v.views > 0 then
      entry_keys[#entry_keys + 1] = P .. 'v:' .. v.key
    end
  end
  local lasts = batched('ZMSCORE', 500, with_runs, P .. 'on')
  local entries = batched('MGET', 500, entry_keys)

  local views = {}  -- article -> day -> views counted
  local function count(art, d, n)
    local by_day = views[art] or {}
    views[art] = by_day
    by_day[d] = (by_day[d] or 0) + n
  end
  local online = {}
  local nruns, nentries = 0, 0
  for _, v in ipairs(visitors) do
    local last = false
    if #v.runs > 0 then
      nruns = nruns + 1
      last = lasts[nruns] and tonumber(lasts[nruns])
    end
    for _, r in ipairs(v.runs) do
      -- The visitor's page view before this run, on the sending counter, is the site's
      -- knowledge too; a visit starts when the latest page view it knows is a session timeout
      -- or more before the run. Its day's distinct visitors (sets) take the visitor in.
      if r.prior ~= NONE and (not last or r.prior > last) then
        last = r.prior
      end
      if not last or r.at - last >= session_us then
        r.day.visits = r.day.visits + 1
      end
      r.day.fresh[#r.day.fresh + 1] = v.key
      if not last or r.at > last then
        last = r.at
      end
    end
    if not dedup then
      for _, w in ipairs(v.views) do
        count(w.art, w.day, 1)
      end
    elseif #v.views > 0 then
      nentries = nentries + 1
      -- The entry: (article, instant) of the views counted lately (a foreign value: none).
      local entry, counted, latest, any = entries[nentries], {}, v.views[1].at, false
      if entry and #entry % 16 == 0 then
        for p = 1, #entry, 16 do
          local art, at = struct.unpack('c8<i8', entry, p)
          counted[art] = at
        end
      end
      for _, w in ipairs(v.views) do
        local c = counted[w.art]
        if not c or w.at - c >= dedup_us then
          count(w.art, w.day, 1)
          counted[w.art] = w.at
          any = true
        end
        if w.at > latest then
          latest = w.at
        end
      end
      -- Written when a view counted: of the views counted less than a dedup window before the
      -- latest, the latest `ENTRY_ARTICLES`.
      if any then
        local kept = {}
        for art, at in pairs(counted) do
          if latest - at < dedup_us then
            kept[#kept + 1] = { art, at }
          end
        end
        table.sort(kept, function(a, b) return a[2] > b[2] end)
        local out = {}
        for j = 1, math.min(#kept, ENTRY_ARTICLES) do
          out[j] = kept[j][1] .. struct.pack('<i8', kept[j][2])
        end
        redis.call('SET', entry_keys[nentries], table.concat(out), 'PX', entry_ms)
      end
    end
    if not last or v.last > last then
      last = v.last
    end
    online[#online + 1] = string.format('%d', last)
    online[#online + 1] = v.key
  end
  batched('ZADD', 1000, online, P .. 'on', 'GT')
  for _, a in ipairs(alone) do
    count(a.art, a.day, a.n)
  end

  -- Distinct visitors of each period: its exact set while at most `EXACT`, and its sketch.
  local fresh = {}  -- period name -> visitor keys new to it
  for _, d in ipairs(days) do
    if #d.fresh > 0 then
      for _, name in ipairs(d.names) do
        local f = fresh[name] or {}
        fresh[name] = f
        for _, k in ipairs(d.fresh) do
          f[#f + 1] = k
        end
      end
    end
  end
  for name, members in pairs(fresh) do
    local s, x, h = P .. 's:' .. name, P .. 'x:' .. name, P .. 'h:' .. name
    -- A period whose sets expired while its summary lives on (a page view arriving days late)
    -- keeps the count it has.
    if redis.call('EXISTS', h) == 0 and redis.call('HEXISTS', s, 'u') == 1 then
      members = {}
    end
    local exact = redis.call('HEXISTS', s, 'o') == 0
    batched('PFADD', 1000, members, h)
    if exact then
      batched('SADD', 1000, members, x)
    end
    local n
    if #members == 0 then
      n = redis.call('HGET', s, 'u')
    elseif exact then
      n = redis.call('SCARD', x)
      if n > EXACT then
        redis.call('UNLINK', x)
        redis.call('HSET', s, 'o', 1)
        exact = false
      end
    end
    if not exact and #members > 0 then
      n = redis.call('PFCOUNT', h)
    end
    redis.call('HSET', s, 'u', n)
    local ttl = SET_TTL[string.sub(name, 1, 1)]
    if ttl then
      redis.call('EXPIRE', h, ttl)
      if exact then
        redis.call('EXPIRE', x, ttl)
      end
    end
    changed('s:' .. name)
  end

  -- Visits and page views; visitors counted alone in their day only (a visitor counted alone on
  -- several days would count again in each week, month, year and the total).
  for _, d in ipairs(days) do
    for k, name in ipairs(d.names) do
      local s = P .. 's:' .. name
      if d.page_views ~= 0 then
        redis.call('HINCRBY', s, 'p', string.format('%d', d.page_views))
      end
      if d.visits ~= 0 then
        redis.call('HINCRBY', s, 'v', string.format('%d', d.visits))
      end
      if k == 1 and d.alone ~= 0 then
        redis.call('HINCRBY', s, 'e', string.format('%d', d.alone))
      end
      if d.page_views ~= 0 or d.visits ~= 0 or (k == 1 and d.alone ~= 0) then
        changed('s:' .. name)
      end
    end
  end
  for name in pairs(changes) do
    if string.sub(name, 1, 2) == 's:' then
      local ttl = SUMMARY_TTL[string.sub(name, 3, 3)]
      if ttl then
        redis.call('EXPIRE', P .. name, ttl)
      end
    end
  end

  -- Articles: the views, by period, read and written in one command each; a kind's field for
  -- a new period drops that kind's fields older than the one before it (a reading needs the
  -- current and the previous period).
  for art, by_day in pairs(views) do
    local ak = P .. 'A:' .. art
    local fields, names = {}, {}
    for d, n in pairs(by_day) do
      for k = 1, 4 do
        local f = d.names[k]
        if not fields[f] then
          names[#names + 1] = f
        end
        fields[f] = (fields[f] or 0) + n
      end
      if not fields.t then
        names[#names + 1] = 't'
      end
      fields.t = (fields.t or 0) + n
    end
    local now_held = redis.call('HMGET', ak, unpack(names))
    local set, newest = {}, {}
    for i, f in ipairs(names) do
      set[#set + 1] = f
      set[#set + 1] = string.format('%d', (tonumber(now_held[i]) or 0) + fields[f])
      if not now_held[i] and f ~= 't' then
        local kind, pkey = string.sub(f, 1, 1), tonumber(string.sub(f, 3))
        newest[kind] = math.max(newest[kind] or pkey, pkey)
      end
    end
    redis.call('HSET', ak, unpack(set))
    if next(newest) then
      for _, f in ipairs(redis.call('HKEYS', ak)) do
        local kind = string.sub(f, 1, 1)
        if newest[kind] and f ~= 't' and tonumber(string.sub(f, 3)) < newest[kind] - 1 then
          redis.call('HDEL', ak, f)
        end
      end
    end
    changed('A:' .. art)
  end
end

if seq > 0 and seq <= applied then
  -- Sent before: applied already, unless another counter's part has this number.
  local digest = redis.call('HGET', ck, 'd' .. seq)
  if digest and digest ~= ARGV[5] then
    claimed = 1
  end
elseif seq > applied + 1 and ARGV[20] ~= '1' then
  gap = 1
elseif seq > 0 then
  local ok, days, visitors, alone = pcall(parse, ARGV[19])
  if not ok then
    return redis.error_reply('VC_PART malformed part: ' .. tostring(days))
  end
  apply(days, visitors, alone)
  applied = seq
  redis.call('HSET', ck, 'a', seq, 'd' .. seq, ARGV[5])
  redis.call('HDEL', ck, 'd' .. (seq - DIGESTS))
end
redis.call('EXPIRE', ck, COUNTER_TTL)

-- Every changed record gets the next change number, and the call a marker.
if nchanges > 0 then
  local last = redis.call('INCRBY', P .. 'n', nchanges)
  local number = last - nchanges
  local args = {}
  for name in pairs(changes) do
    number = number + 1
    args[#args + 1] = string.format('%d', number)
    args[#args + 1] = name
  end
  batched('ZADD', 2000, args, P .. 'ch')
end
-- A call that answers marks where the changes are: see `mk`.
local want = tonumber(ARGV[10])
if want > 0 then
  local last = redis.call('GET', P .. 'n') or '0'
  if redis.call('ZCOUNT', P .. 'mk', last, last) == 0 then
    redis.call('ZADD', P .. 'mk', last, ARGV[18])
    redis.call('ZREMRANGEBYRANK', P .. 'mk', 0, -MARKERS - 1)
  end
end

-- Online: visitors whose last page view is less than an online window before the counter's
-- clock. Entries are dropped once they are the longer of an online window and a session
-- timeout, and `LATE`, old by both the counter's clock and the server's: so a counter whose
-- clock runs ahead drops nothing another counter still counts or decides visits by, and page
-- views that reach the site up to `LATE` after they happened still find the visitor's last.
-- After an outage (a pause in every counter's calls), the counters send what they recorded
-- meanwhile, all of it late: until `LATE` after it ended, the pause is added.
-- Pauses are measured by the older clock, as the trim is: a clock running ahead makes none.
-- A pause while an earlier one is in force keeps at least that one's length (a counter a
-- little behind that called first after an outage must not shorten it).
local at = math.min(now_us, server_us)
local lc, pause, pause_end = tonumber(site[8]), tonumber(site[9]) or 0, tonumber(site[10]) or 0
if at - pause_end > LATE then
  pause = 0
end
if not lc or at > lc then
  if lc and at - lc > PAUSE then
    pause, pause_end = math.max(at - lc, pause), at
  end
  redis.call('HSET', cfg, 'lc', string.format('%d', at), 'pause', string.format('%d', pause),
    'pause_end', string.format('%d', pause_end))
end
local window_us = tonumber(ARGV[13])
local oldest = at - math.max(window_us, tonumber(ARGV[14])) - LATE - pause
redis.call('ZREMRANGEBYSCORE', P .. 'on', '-inf', string.format('(%d', oldest))
local online = 0
if want > 0 then
  online = redis.call('ZCOUNT', P .. 'on', string.format('(%d', now_us - window_us), '+inf')
end

-- Whether the site lost writes the counter had read: its marker is gone.
local lost = 0
if ARGV[8] ~= '' and redis.call('ZSCORE', P .. 'mk', ARGV[8]) ~= ARGV[9] then
  lost = 1
end

-- The records changed since the counter last read, oldest change first, and the marker of the
-- last one listed.
local out, listed, mark = {}, {}, { '', '0' }
if want > 0 then
  listed = redis.call('ZRANGEBYSCORE', P .. 'ch', '(' .. ARGV[7], '+inf', 'WITHSCORES', 'LIMIT', 0, want)
  -- The first marker at or after the last change listed: while it is there, so is everything
  -- before it.
  local upto = #listed > 0 and listed[#listed] or ARGV[7]
  local m = redis.call('ZRANGEBYSCORE', P .. 'mk', upto, '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
  if #m == 2 then
    mark = m
  end
end
for i = 1, #listed, 2 do
  local name = listed[i]
  out[#out + 1] = name
  out[#out + 1] = listed[i + 1]
  out[#out + 1] = redis.call('HGETALL', P .. name)
end

-- Records that expired leave the change list: a few a call, from a cursor that goes round.
local cursor = redis.call('GET', P .. 'chc') or '0'
local next_up = redis.call('ZRANGEBYSCORE', P .. 'ch', '(' .. cursor, '+inf', 'WITHSCORES', 'LIMIT', 0, 4)
for i = 1, #next_up, 2 do
  if redis.call('EXISTS', P .. next_up[i]) == 0 then
    redis.call('ZREM', P .. 'ch', next_up[i])
  end
end
redis.call('SET', P .. 'chc', #next_up == 8 and next_up[8] or '0')

return { epoch, string.format('%d', applied), claimed + 2 * gap, redis.call('GET', P .. 'n') or '0',
  online, string.format('%d', server_us), lost, out, mark[1], mark[2] }
