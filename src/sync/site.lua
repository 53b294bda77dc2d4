-- visitor-counter: one sync of one counter against its site's state (schema 1).
--
-- Run with EVALSHA (see `sync/redis.rs`). Applies a part of a batch of page views, once, and
-- answers with the site's readings that changed since the counter last asked. Every key of a
-- site starts with KEYS[1], "vc:{<site>}:", so a Redis Cluster keeps a site on one node.
--
-- Times are 8-byte "ordered" strings: the instant in nanoseconds since the Unix epoch, with
-- the sign bit flipped, big-endian, so that they compare as unsigned numbers. Lua numbers are
-- doubles, so times are never turned into one number: `le` compares them as two 32-bit halves.
-- Everything that needs arithmetic on instants (a visit's threshold, a view's dedup threshold,
-- microseconds for the online set) is computed by the counter and sent.
--
-- ARGV:
--  1 schema        2 counter id (hex)      3 seq (0: nothing to apply, only read)
--  4 online threshold (ordered: now - online window)
--  5 that threshold in whole microseconds (floor)
--  6 how many of an instant's high 32 bits make an online epoch: an epoch is 2^32 times this
--    nanoseconds long, the shortest such span at least as long as the online window and a
--    minute, so that an instant's epoch is the high half of its ordered form divided by this
--  7 since (the change number the counter has read up to)
--  8 records to answer at most (0: none, a part that is not the last of its sync)
--  9 zone          10 week start        11 online window ns   12 session timeout ns
-- 13 dedup window ns                    14 initial visits      15 initial page views
-- 16 ms a visitor's entry lives         17 ms an online epoch's set lives
-- 18 the part (binary, see `sync/batch.rs`)
--
-- Keys under the prefix:
--  cfg              hash: the site's calendar and windows, its epoch
--  c:<id>           the last seq applied for a counter
--  v:<key>          a visitor: its last page view (ordered), the last day it was counted, then
--                   for each article whose view was counted less than the dedup window before
--                   its last page view: the article and when (ordered)
--  on:<epoch>       zset: visitor key -> last page view in microseconds, of the visitors whose
--                   last page view falls in that epoch (at least an online window and a minute
--                   long); epochs before the one the online threshold falls in are dropped
--                   whole
--  oe               set: the epochs that have a zset
--  s:<kind>:<pkey>  a period's summary: v visits, p page views, u distinct visitors (exact),
--                   or h<k> registers holding k (the sketch's histogram), e visitors counted
--                   by a counter past its bound (added, not merged)
--  x:<kind>:<pkey>  a period's distinct visitors while exact (set of 8-byte keys)
--  r:<kind>:<pkey>  a period's sketch registers past 4096 visitors (65536 bytes)
--  cv               the periods whose exact set passed 4096 and waits for its sketch
--  A:<art>          an article's counted views: d:<day>, w:<week>, m:<month>, y:<year>, t
--  ch               zset: changed record (s:... or A:...) -> change number
--  n                the last change number
-- kind: d day, w week, m month, y year, t total (period key 0).

local P = KEYS[1]
local epoch_div = tonumber(ARGV[6])
local SCHEMA = '1'
local EXACT_LIMIT = 4096
local DAY = 86400

-- How long each kind's summary and sets live (seconds); a total never expires.
local SUMMARY_TTL = { d = 514 * DAY, w = 3 * 7 * DAY, m = 100 * DAY, y = 800 * DAY }
local SET_TTL = { d = 3 * DAY, w = 3 * 7 * DAY, m = 70 * DAY, y = 800 * DAY }
local COUNTER_TTL = 30 * DAY

-- a <= b, for two instants given as the (high, low) 32-bit halves of their ordered form.
local function before(ah, al, bh, bl)
  return ah < bh or (ah == bh and al <= bl)
end

-- a <= b, for two ordered times.
local function le(a, b)
  local ah, al = struct.unpack('>I4I4', a)
  local bh, bl = struct.unpack('>I4I4', b)
  return before(ah, al, bh, bl)
end

-- The sketch register and rank of a visitor key (the key's big-endian bytes: the register is
-- its top 16 bits, the rank one more than the leading zeros of the 48 bits below them).
local function hll(k)
  local b1, b2 = string.byte(k, 1, 2)
  local rank = 1
  for i = 3, 8 do
    local b = string.byte(k, i)
    if b == 0 then
      rank = rank + 8
    else
      while b < 128 do
        b = b * 2
        rank = rank + 1
      end
      return b1 * 256 + b2, rank
    end
  end
  return b1 * 256 + b2, rank
end

-- The site: created by the first counter, checked for every other one.
local cfg = P .. 'cfg'
local mine = { ARGV[9], ARGV[10], ARGV[11], ARGV[12], ARGV[13], SCHEMA }
local names = { 'zone', 'week_start', 'online_window', 'session_timeout', 'article_dedup_window', 'schema' }
local site = redis.call('HMGET', cfg, 'zone', 'week_start', 'online_window', 'session_timeout',
  'article_dedup_window', 'schema', 'epoch')
local epoch = site[7]
local changes, nchanges = {}, 0
local function changed(name)
  if not changes[name] then
    changes[name] = true
    nchanges = nchanges + 1
  end
end
if not epoch then
  local t = redis.call('TIME')
  epoch = t[1] .. '.' .. t[2] .. '.' .. ARGV[2]
  redis.call('HSET', cfg, names[1], mine[1], names[2], mine[2], names[3], mine[3], names[4], mine[4],
    names[5], mine[5], names[6], mine[6], 'epoch', epoch)
  if ARGV[14] ~= '0' or ARGV[15] ~= '0' then
    redis.call('HINCRBY', P .. 's:t:0', 'v', ARGV[14])
    redis.call('HINCRBY', P .. 's:t:0', 'p', ARGV[15])
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

local seq = tonumber(ARGV[3])
local ck = P .. 'c:' .. ARGV[2]
local applied = tonumber(redis.call('GET', ck) or '0')
local duplicate = 0

if seq > 0 and seq <= applied then
  duplicate = 1
elseif seq > 0 then
  -- Walk the whole part before writing anything: a malformed part changes nothing.
  local part = ARGV[18]
  local pos = 1
  local function read(format)
    local v
    v, pos = struct.unpack(format, part, pos)
    return v
  end
  local function u16() return read('<I2') end
  local function u32() return read('<I4') end
  local function i32() return read('<i4') end
  local function f64() return read('<d') end
  local function c8()
    if pos + 7 > #part then
      error('short')
    end
    local v = string.sub(part, pos, pos + 7)
    pos = pos + 8
    return v
  end
  local days = {}
  local ok, why = pcall(function()
    for i = 1, u32() do
      local dk = i32()
      local wk = i32()
      local mk = i32()
      local d = { day = dk, week = wk, month = mk, year = i32() }
      d.names = { 'd:' .. d.day, 'w:' .. d.week, 'm:' .. d.month, 'y:' .. d.year, 't:0' }
      d.page_views = f64()
      d.visits = f64()
      d.visitors = f64()
      days[i] = d
    end
    local function day()
      if not days[u16()] then
        error('no such day')
      end
    end
    for _ = 1, u32() do
      c8(); c8(); f64(); c8()
      for _ = 1, u16() do
        day()
        c8(); c8()
      end
      for _ = 1, u16() do
        c8(); day(); c8(); c8()
      end
    end
    for _ = 1, u32() do
      c8(); day(); u32()
    end
  end)
  if not ok or pos ~= #part + 1 then
    return redis.error_reply('VC_PART malformed part: ' .. (ok and 'bytes left over' or tostring(why)))
  end
  pos = 1 + 4 + 40 * #days

  -- Per day of the part: visits, page views, the visitors first seen that day.
  local visits, page_views, fresh = {}, {}, {}
  for i, d in ipairs(days) do
    visits[i], page_views[i], fresh[i] = d.visits, d.page_views, {}
  end
  -- Adds n to t[a][b].
  local function tally(t, a, b, n)
    local r = t[a]
    if not r then
      r = {}
      t[a] = r
    end
    r[b] = (r[b] or 0) + n
  end
  -- Article views counted, by article, then day.
  local articles = {}
  local function count_view(art, di, n)
    tally(articles, art, di, n)
  end

  -- Visitors: their entries read at once, then each with its runs (the page views that may
  -- start a visit or a local day) and its article views, in time order.
  local n_visitors = u32()
  local start = pos
  local keys = {}
  for i = 1, n_visitors do
    keys[i] = P .. 'v:' .. c8()
    pos = pos + 24
    pos = pos + 18 * u16()
    pos = pos + 26 * u16()
  end
  local entries = {}
  for i = 1, #keys, 500 do
    local got = redis.call('MGET', unpack(keys, i, math.min(i + 499, #keys)))
    for j = 1, #got do
      entries[i + j - 1] = got[j]
    end
  end
  pos = start
  local dedup_on = ARGV[13] ~= '0'
  local moved_in, moved_out = {}, {}
  for i = 1, n_visitors do
    local key = c8()
    local entry = entries[i]
    local lh, ll, lastday, counted = false, false, false, false
    if entry and #entry >= 12 and (#entry - 12) % 16 == 0 then
      lh, ll, lastday = struct.unpack('>I4I4<i4', entry)
      if #entry > 12 then
        counted = {}
        for p = 13, #entry, 16 do
          local art, ch, cl = struct.unpack('c8>I4I4', entry, p)
          counted[art] = { ch, cl }
        end
      end
    end
    -- The online set the visitor is filed in is its stored last page view's epoch.
    local filed = lh and math.floor(lh / epoch_div)
    local fh, fl, final_us, eh, el, n_runs
    fh, fl, final_us, eh, el, n_runs, pos = struct.unpack('>I4I4<d>I4I4<I2', part, pos)
    local dirty = false
    for _ = 1, n_runs do
      local di, th, tl, ph, pl
      di, th, tl, ph, pl, pos = struct.unpack('<I2>I4I4I4I4', part, pos)
      -- The visitor's page view before this run (on the sending counter) is part of the site's
      -- knowledge from now on; a visit starts when the latest page view it knows is a session
      -- timeout or more before the run's.
      if (ph ~= 0 or pl ~= 0) and (not lh or not before(ph, pl, lh, ll)) then
        lh, ll = ph, pl
      end
      if not lh or before(lh, ll, th, tl) then
        visits[di] = visits[di] + 1
      end
      local d = days[di].day
      if lastday ~= d then
        local f = fresh[di]
        f[#f + 1] = key
        if not lastday or lastday < d then
          lastday = d
          dirty = true
        end
      end
    end
    local newest_us = false
    if not lh or not before(fh, fl, lh, ll) then
      -- Filed under the epoch of its new last page view, and out of its old one.
      local e = math.floor(fh / epoch_div)
      if filed and filed ~= e then
        local r = moved_out[filed] or {}
        moved_out[filed] = r
        r[#r + 1] = key
      end
      lh, ll, newest_us, dirty = fh, fl, final_us, true
      local a = moved_in[e] or {}
      moved_in[e] = a
      a[#a + 1] = string.format('%d', final_us)
      a[#a + 1] = key
    end
    local n_views
    n_views, pos = struct.unpack('<I2', part, pos)
    for _ = 1, n_views do
      local art, di, vh, vl, th, tl
      art, di, vh, vl, th, tl, pos = struct.unpack('c8<I2>I4I4I4I4', part, pos)
      local c = counted and counted[art]
      if not dedup_on or not c or before(c[1], c[2], th, tl) then
        count_view(art, di, 1)
        if dedup_on then
          counted = counted or {}
          counted[art], dirty = { vh, vl }, true
        end
      end
    end
    if dirty and lh then
      -- Views counted a dedup window before the visitor's latest page view can hold back no
      -- later view of it.
      local kept = { struct.pack('>I4I4<i4', lh, ll, lastday or 0) }
      for art, c in pairs(counted or {}) do
        if not newest_us or not before(c[1], c[2], eh, el) then
          kept[#kept + 1] = art .. struct.pack('>I4I4', c[1], c[2])
        end
      end
      redis.call('SET', keys[i], table.concat(kept), 'PX', ARGV[16])
    end
  end
  -- Article views a counter past its bound counted alone.
  for _ = 1, u32() do
    local art = c8()
    local di = u16()
    count_view(art, di, u32())
  end
  for e, members in pairs(moved_out) do
    for i = 1, #members, 1000 do
      redis.call('ZREM', P .. 'on:' .. e, unpack(members, i, math.min(i + 999, #members)))
    end
  end
  for e, members in pairs(moved_in) do
    local ok = P .. 'on:' .. e
    for i = 1, #members, 1000 do
      redis.call('ZADD', ok, 'GT', unpack(members, i, math.min(i + 999, #members)))
    end
    redis.call('PEXPIRE', ok, ARGV[17])
    redis.call('SADD', P .. 'oe', e)
    redis.call('PEXPIRE', P .. 'oe', ARGV[17])
  end

  -- Distinct visitors: each period's set, exact (a set of keys) up to EXACT_LIMIT, then a
  -- sketch whose histogram lives in the summary. A period whose sets expired while its summary
  -- lives on (a page view arriving days late) keeps the count it has.
  local mode, hist, grown = {}, {}, {}
  -- Each member's register (as BITFIELD names it) and rank, worked out once for all its sets.
  local slots = {}
  local function slot(key)
    local s = slots[key]
    if not s then
      local idx, rank = hll(key)
      s = { '#' .. idx, rank }
      slots[key] = s
    end
    return s
  end
  local function add_all(name, members)
    local m = mode[name]
    if not m then
      if redis.call('EXISTS', P .. 'r:' .. name) == 1 then
        m = 'r'
      elseif redis.call('EXISTS', P .. 'x:' .. name) == 1 or
          redis.call('HEXISTS', P .. 's:' .. name, 'u') + redis.call('HEXISTS', P .. 's:' .. name, 'h0') == 0 then
        m = 'x'
      else
        m = 'frozen'
      end
      mode[name] = m
    end
    for i = 1, #members, 500 do
      local last = math.min(i + 499, #members)
      if m == 'x' then
        if redis.call('SADD', P .. 'x:' .. name, unpack(members, i, last)) > 0 then
          grown[name] = true
        end
      elseif m == 'r' then
        -- Each register's highest rank among these members, then the registers they raise.
        local best, order = {}, {}
        for j = i, last do
          local s = slot(members[j])
          local idx, rank = s[1], s[2]
          if not best[idx] then
            order[#order + 1] = idx
            best[idx] = rank
          elseif rank > best[idx] then
            best[idx] = rank
          end
        end
        local get = {}
        for _, idx in ipairs(order) do
          get[#get + 1] = 'GET'
          get[#get + 1] = 'u8'
          get[#get + 1] = idx
        end
        local rk = P .. 'r:' .. name
        local now = redis.call('BITFIELD', rk, unpack(get))
        local set = {}
        local h = hist[name] or {}
        hist[name] = h
        for j, idx in ipairs(order) do
          local old, rank = now[j], best[idx]
          if rank > old then
            set[#set + 1] = 'SET'
            set[#set + 1] = 'u8'
            set[#set + 1] = idx
            set[#set + 1] = rank
            h[old] = (h[old] or 0) - 1
            h[rank] = (h[rank] or 0) + 1
          end
        end
        if #set > 0 then
          redis.call('BITFIELD', rk, unpack(set))
        end
      end
    end
  end
  for di, members in ipairs(fresh) do
    if #members > 0 then
      for _, name in ipairs(days[di].names) do
        add_all(name, members)
      end
    end
  end

  -- Counts to add, by summary record.
  local add = {}
  local function bump(name, field, n)
    if n ~= 0 then
      tally(add, name, field, n)
    end
  end
  for di, d in ipairs(days) do
    for _, name in ipairs(d.names) do
      bump('s:' .. name, 'p', page_views[di])
      bump('s:' .. name, 'v', visits[di])
      bump('s:' .. name, 'e', d.visitors)
    end
  end

  -- Articles: add the views; a period kind's field for a new period drops that kind's fields
  -- older than the one before it (a reading needs the current and the previous period).
  for art, by_day in pairs(articles) do
    local ak = P .. 'A:' .. art
    local fields = {}
    for di, n in pairs(by_day) do
      local d = days[di]
      for k = 1, 4 do
        fields[d.names[k]] = (fields[d.names[k]] or 0) + n
      end
      fields.t = (fields.t or 0) + n
    end
    for field, n in pairs(fields) do
      if redis.call('HINCRBY', ak, field, string.format('%d', n)) == n and field ~= 't' then
        local kind, pkey = string.sub(field, 1, 1), tonumber(string.sub(field, 3))
        for _, f in ipairs(redis.call('HKEYS', ak)) do
          if string.sub(f, 1, 1) == kind and f ~= 't' and tonumber(string.sub(f, 3)) < pkey - 1 then
            redis.call('HDEL', ak, f)
          end
        end
      end
    end
    changed('A:' .. art)
  end

  -- Distinct sets that took visitors: their exact count; a set past EXACT_LIMIT waits to be
  -- replaced by a sketch in a call of its own (see below), still exact meanwhile.
  for name in pairs(grown) do
    local xk = P .. 'x:' .. name
    local n = redis.call('SCARD', xk)
    redis.call('HSET', P .. 's:' .. name, 'u', n)
    local ttl = SET_TTL[string.sub(name, 1, 1)]
    if ttl then
      redis.call('EXPIRE', xk, ttl)
    end
    if n > EXACT_LIMIT then
      redis.call('SADD', P .. 'cv', name)
    end
    changed('s:' .. name)
  end
  for name, h in pairs(hist) do
    for k, c in pairs(h) do
      if c ~= 0 then
        redis.call('HINCRBY', P .. 's:' .. name, 'h' .. k, string.format('%d', c))
      end
    end
    changed('s:' .. name)
  end
  for name, fields in pairs(add) do
    for field, n in pairs(fields) do
      redis.call('HINCRBY', P .. name, field, string.format('%d', n))
    end
    changed(name)
  end
  for name in pairs(changes) do
    if string.sub(name, 1, 2) == 's:' then
      local ttl = SUMMARY_TTL[string.sub(name, 3, 3)]
      if ttl then
        redis.call('EXPIRE', P .. name, ttl)
      end
    end
  end
end

-- A call that applies no part replaces one set waiting for it by a sketch of the same
-- visitors (about 10 ms for a set of 4,097); the counter calls again while some wait.
if seq == 0 then
  local name = redis.call('SPOP', P .. 'cv')
  if name then
    local xk, sk = P .. 'x:' .. name, P .. 's:' .. name
    local regs, nonzero = {}, 0
    for _, m in ipairs(redis.call('SMEMBERS', xk)) do
      local idx, rank = hll(m)
      local r = regs[idx]
      if not r then
        nonzero = nonzero + 1
        r = 0
      end
      if rank > r then
        regs[idx] = rank
      end
    end
    if nonzero > 0 then
      local rk = P .. 'r:' .. name
      redis.call('SET', rk, string.rep('\0', 65536))
      local h = { [0] = 65536 - nonzero }
      local set = {}
      for idx, rank in pairs(regs) do
        set[#set + 1] = 'SET'
        set[#set + 1] = 'u8'
        set[#set + 1] = '#' .. idx
        set[#set + 1] = rank
        h[rank] = (h[rank] or 0) + 1
      end
      for i = 1, #set, 2000 do
        redis.call('BITFIELD', rk, unpack(set, i, math.min(i + 1999, #set)))
      end
      local ttl = SET_TTL[string.sub(name, 1, 1)]
      if ttl then
        redis.call('EXPIRE', rk, ttl)
      end
      local fields = {}
      for k, c in pairs(h) do
        fields[#fields + 1] = 'h' .. k
        fields[#fields + 1] = c
      end
      redis.call('HDEL', sk, 'u')
      redis.call('HSET', sk, unpack(fields))
      redis.call('UNLINK', xk)
      changed('s:' .. name)
    end
  end
end

-- Every changed record gets the next change number.
if nchanges > 0 then
  local last = redis.call('INCRBY', P .. 'n', nchanges)
  local number = last - nchanges
  local args = {}
  for name in pairs(changes) do
    number = number + 1
    args[#args + 1] = string.format('%d', number)
    args[#args + 1] = name
  end
  for i = 1, #args, 2000 do
    redis.call('ZADD', P .. 'ch', unpack(args, i, math.min(i + 1999, #args)))
  end
end
-- The part is applied, and its changes numbered: marked applied after everything it writes.
if seq > applied then
  redis.call('SET', ck, ARGV[3], 'EX', COUNTER_TTL)
end

-- Online: visitors whose last page view is after the threshold, counted in the epochs from
-- the threshold's to now's (at most two: an epoch is longer than the online window). Entries in
-- the threshold's own microsecond are checked against their exact instant. Only a call that
-- answers counts; older epochs are dropped then.
local online = 0
if ARGV[8] ~= '0' then
  local first = math.floor(struct.unpack('>I4', ARGV[4]) / epoch_div)
  for e = first, first + 1 do
    local ok = P .. 'on:' .. e
    online = online + redis.call('ZCOUNT', ok, '(' .. ARGV[5], '+inf')
    for _, key in ipairs(redis.call('ZRANGEBYSCORE', ok, ARGV[5], ARGV[5])) do
      local entry = redis.call('GET', P .. 'v:' .. key)
      if entry and #entry >= 12 and not le(string.sub(entry, 1, 8), ARGV[4]) then
        online = online + 1
      end
    end
  end
  for _, e in ipairs(redis.call('SMEMBERS', P .. 'oe')) do
    if tonumber(e) < first then
      redis.call('UNLINK', P .. 'on:' .. e)
      redis.call('SREM', P .. 'oe', e)
    end
  end
end

-- The records changed since the counter last read, oldest change first.
local out = {}
local listed = {}
if ARGV[8] ~= '0' then
  listed = redis.call('ZRANGEBYSCORE', P .. 'ch', '(' .. ARGV[7], '+inf', 'WITHSCORES', 'LIMIT', 0,
    ARGV[8])
end
for i = 1, #listed, 2 do
  local name = listed[i]
  out[#out + 1] = name
  out[#out + 1] = listed[i + 1]
  out[#out + 1] = redis.call('HGETALL', P .. name)
end
-- Records that expired leave the change list, a few at a time.
for _, name in ipairs(redis.call('ZRANGE', P .. 'ch', 0, 1)) do
  if redis.call('EXISTS', P .. name) == 0 then
    redis.call('ZREM', P .. 'ch', name)
  end
end

return { epoch, duplicate, redis.call('GET', P .. 'n') or '0', online, out,
  redis.call('SCARD', P .. 'cv') }
