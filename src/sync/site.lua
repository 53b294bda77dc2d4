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
--  6 microseconds below which online entries are dropped (a minute older than 5)
--  7 since (the change number the counter has read up to)   8 records to answer at most
--  9 zone          10 week start        11 online window ns   12 session timeout ns
-- 13 dedup window ns                    14 initial visits      15 initial page views
-- 16 ms a visitor's entry lives         17 ms a dedup entry lives
-- 18 ms the online set lives            19 the part (binary, see `sync/batch.rs`)
--
-- Keys under the prefix:
--  cfg              hash: the site's calendar and windows, its epoch
--  c:<id>           the last seq applied for a counter
--  v:<key>          a visitor: its last page view (ordered) and the last day it was counted
--  on               zset: visitor key -> last page view in microseconds
--  a:<art><key>     an article view's dedup entry: when it was last counted (ordered)
--  s:<kind>:<pkey>  a period's summary: v visits, p page views, u distinct visitors (exact),
--                   or h<k> registers holding k (the sketch's histogram), e visitors counted
--                   by a counter past its bound (added, not merged)
--  x:<kind>:<pkey>  a period's distinct visitors while exact (set of 8-byte keys)
--  r:<kind>:<pkey>  a period's sketch registers past 4096 visitors (65536 bytes)
--  A:<art>          an article's counted views: d:<day>, w:<week>, m:<month>, y:<year>, t
--  ch               zset: changed record (s:... or A:...) -> change number
--  n                the last change number
-- kind: d day, w week, m month, y year, t total (period key 0).

local P = KEYS[1]
local SCHEMA = '1'
local EXACT_LIMIT = 4096
local DAY = 86400

-- How long each kind's summary and sets live (seconds); a total never expires.
local SUMMARY_TTL = { d = 514 * DAY, w = 3 * 7 * DAY, m = 100 * DAY, y = 800 * DAY }
local SET_TTL = { d = 3 * DAY, w = 3 * 7 * DAY, m = 70 * DAY, y = 800 * DAY }
local COUNTER_TTL = 30 * DAY

-- a <= b, for two ordered times.
local function le(a, b)
  local ah, al = struct.unpack('>I4I4', a)
  local bh, bl = struct.unpack('>I4I4', b)
  return ah < bh or (ah == bh and al <= bl)
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
  -- Read the whole part before writing anything: a malformed part changes nothing.
  local part = ARGV[19]
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
  local days, visitors, pairs_, alone_views = {}, {}, {}, {}
  local function day()
    local d = days[u16()]
    if not d then
      error('no such day')
    end
    return d
  end
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
    for i = 1, u32() do
      local v = { key = c8(), runs = {} }
      for j = 1, u16() do
        local d = day()
        local threshold = c8()
        local last = c8()
        local last_us = f64()
        v.runs[j] = { d = d, threshold = threshold, last = last, last_us = last_us, views = u32() }
      end
      visitors[i] = v
    end
    for i = 1, u32() do
      local art = c8()
      local pr = { art = art, key = c8(), views = {} }
      for j = 1, u16() do
        local d = day()
        local t = c8()
        pr.views[j] = { d = d, t = t, threshold = c8() }
      end
      pairs_[i] = pr
    end
    for i = 1, u32() do
      local art = c8()
      local d = day()
      alone_views[i] = { art = art, d = d, n = u32() }
    end
  end)
  if not ok or pos ~= #part + 1 then
    return redis.error_reply('VC_PART malformed part: ' .. (ok and 'bytes left over' or tostring(why)))
  end

  -- Counts to add, by summary record.
  local add = {}
  local function bump(name, field, n)
    if n ~= 0 then
      local r = add[name]
      if not r then
        r = {}
        add[name] = r
      end
      r[field] = (r[field] or 0) + n
    end
  end
  for _, d in ipairs(days) do
    for _, name in ipairs(d.names) do
      bump('s:' .. name, 'p', d.page_views)
      bump('s:' .. name, 'v', d.visits)
      bump('s:' .. name, 'e', d.visitors)
    end
  end

  -- Distinct visitors: each period's set, exact (a set of keys) up to EXACT_LIMIT, then a
  -- sketch whose histogram lives in the summary. A period whose sets expired while its summary
  -- lives on (a page view arriving days late) keeps the count it has.
  local mode, hist, grown = {}, {}, {}
  local function add_to(name, key)
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
    if m == 'x' then
      if redis.call('SADD', P .. 'x:' .. name, key) == 1 then
        grown[name] = true
        return true
      end
      return false
    elseif m == 'r' then
      local idx, rank = hll(key)
      local rk = P .. 'r:' .. name
      local old = string.byte(redis.call('GETRANGE', rk, idx, idx))
      if rank > old then
        redis.call('SETRANGE', rk, idx, string.char(rank))
        local h = hist[name]
        if not h then
          h = {}
          hist[name] = h
        end
        h[old] = (h[old] or 0) - 1
        h[rank] = (h[rank] or 0) + 1
      end
      -- A sketch cannot tell a visitor it holds: the other periods are offered the key too.
      return true
    end
    return false
  end
  local function distinct(key, d)
    -- A visitor already in the day's set is already in its week's, month's, year's and the
    -- total's: they were offered the key when the day's set took it.
    if add_to(d.names[1], key) or mode[d.names[1]] ~= 'x' then
      for i = 2, 5 do
        add_to(d.names[i], key)
      end
    end
  end

  -- Visitors: each with its runs (page views within one local day, less than the session
  -- timeout apart), oldest first.
  local on = P .. 'on'
  for _, v in ipairs(visitors) do
    local key = v.key
    local vk = P .. 'v:' .. key
    local entry = redis.call('GET', vk)
    local last, lastday = false, false
    if entry and #entry == 12 then
      last = string.sub(entry, 1, 8)
      lastday = struct.unpack('<i4', entry, 9)
    end
    local newest_us = false
    local dirty = false
    for _, r in ipairs(v.runs) do
      local d = r.d
      -- A visit starts when the visitor's last page view was a session timeout ago or more.
      if not last or le(last, r.threshold) then
        for _, name in ipairs(d.names) do
          bump('s:' .. name, 'v', 1)
        end
      end
      for _, name in ipairs(d.names) do
        bump('s:' .. name, 'p', r.views)
      end
      if lastday ~= d.day then
        distinct(key, d)
        if not lastday or lastday < d.day then
          lastday = d.day
          dirty = true
        end
      end
      if not last or not le(r.last, last) then
        last = r.last
        newest_us = r.last_us
        dirty = true
      end
    end
    if dirty then
      redis.call('SET', vk, last .. struct.pack('<i4', lastday), 'PX', ARGV[16])
    end
    if newest_us then
      redis.call('ZADD', on, 'GT', string.format('%d', newest_us), key)
    end
  end

  -- Article views: each (article, visitor) with its views, oldest first; a view counts unless
  -- the same pair had one counted less than the dedup window before it.
  local dedup = ARGV[13] ~= '0'
  local articles = {}
  local function count_view(art, d, n)
    local a = articles[art]
    if not a then
      a = {}
      articles[art] = a
    end
    for i = 1, 5 do
      local field = i == 5 and 't' or d.names[i]
      a[field] = (a[field] or 0) + n
    end
  end
  for _, pr in ipairs(pairs_) do
    local ak = P .. 'a:' .. pr.art .. pr.key
    local counted = dedup and redis.call('GET', ak) or false
    local moved = false
    for _, view in ipairs(pr.views) do
      if not dedup or not counted or le(counted, view.threshold) then
        count_view(pr.art, view.d, 1)
        counted = view.t
        moved = true
      end
    end
    if moved and dedup then
      redis.call('SET', ak, counted, 'PX', ARGV[17])
    end
  end
  -- Article views a counter past its bound counted alone.
  for _, a in ipairs(alone_views) do
    count_view(a.art, a.d, a.n)
  end

  -- Articles: add the views; a period kind's field for a new period drops that kind's fields
  -- older than the one before it (a reading needs the current and the previous period).
  for art, fields in pairs(articles) do
    local ak = P .. 'A:' .. art
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

  -- Distinct sets that took visitors: the exact count, or the sketch that replaces the set.
  for name in pairs(grown) do
    local xk, sk = P .. 'x:' .. name, P .. 's:' .. name
    local ttl = SET_TTL[string.sub(name, 1, 1)]
    local n = redis.call('SCARD', xk)
    if n > EXACT_LIMIT then
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
      local rk = P .. 'r:' .. name
      redis.call('SET', rk, string.rep('\0', 65536))
      local h = { [0] = 65536 - nonzero }
      for idx, rank in pairs(regs) do
        redis.call('SETRANGE', rk, idx, string.char(rank))
        h[rank] = (h[rank] or 0) + 1
      end
      if ttl then
        redis.call('EXPIRE', rk, ttl)
      end
      redis.call('DEL', xk)
      redis.call('HDEL', sk, 'u')
      for k, c in pairs(h) do
        redis.call('HSET', sk, 'h' .. k, c)
      end
    else
      redis.call('HSET', sk, 'u', n)
      if ttl then
        redis.call('EXPIRE', xk, ttl)
      end
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
  redis.call('SET', ck, ARGV[3], 'EX', COUNTER_TTL)
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
  redis.call('ZADD', P .. 'ch', unpack(args))
end

-- Online: visitors whose last page view is after the threshold. Entries in the threshold's own
-- microsecond are checked against their exact instant.
local on = P .. 'on'
redis.call('ZREMRANGEBYSCORE', on, '-inf', '(' .. ARGV[6])
local online = redis.call('ZCOUNT', on, '(' .. ARGV[5], '+inf')
for _, key in ipairs(redis.call('ZRANGEBYSCORE', on, ARGV[5], ARGV[5])) do
  local entry = redis.call('GET', P .. 'v:' .. key)
  if entry and #entry == 12 and not le(string.sub(entry, 1, 8), ARGV[4]) then
    online = online + 1
  end
end
if redis.call('EXISTS', on) == 1 then
  redis.call('PEXPIRE', on, ARGV[18])
end

-- The records changed since the counter last read, oldest change first.
local out = {}
local listed = redis.call('ZRANGEBYSCORE', P .. 'ch', '(' .. ARGV[7], '+inf', 'WITHSCORES', 'LIMIT', 0,
  ARGV[8])
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

return { epoch, duplicate, redis.call('GET', P .. 'n') or '0', online, out }
