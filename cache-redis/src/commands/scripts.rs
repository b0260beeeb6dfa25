//! The Lua scripts (run with `EVALSHA`, loaded on `NOSCRIPT` by `redis::Script`).
//!
//! Generations: the namespace's `gen` only grows. `invalidate_tags` sets it to
//! `max(gen + 1, server time in µs)` and stamps each tag key with it; a tagged write stores the
//! `gen` current at write time as the entry's `w`. An entry is visible only if every one of its
//! tags has a generation `<= w`: a tag invalidated after the write (generation `> w`) hides it,
//! whatever the number of entries carrying the tag. Initialising a missing `gen` from the
//! server clock keeps that order even if the metadata key is evicted.

use std::sync::LazyLock;

use redis::Script;

/// `generation(gen_key, ttl_ms)`: the current generation (created from the clock if missing),
/// raising `maxttl` to `ttl_ms`.
const GENERATION_FN: &str = r"
local function generation(gen_key, ttl)
  local g = redis.call('HGET', gen_key, 'gen')
  if not g then
    local t = redis.call('TIME')
    g = string.format('%.0f', tonumber(t[1]) * 1000000 + tonumber(t[2]))
    redis.call('HSET', gen_key, 'gen', g)
  end
  local m = tonumber(redis.call('HGET', gen_key, 'maxttl') or '0') or 0
  if tonumber(ttl) > m then redis.call('HSET', gen_key, 'maxttl', ttl) end
  return g
end
";

/// `now_ms()`: the server clock in Unix milliseconds.
const NOW_FN: &str = r"
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
";

/// `lease(key, token, ttl, now)`: takes the key's lease (field `l`, `"<token> <until ms>"`)
/// for `ttl` ms unless another token holds it unexpired; keeps the key alive at least that
/// long. Returns `'won'`, or `'held <ms left>'`.
const LEASE_FN: &str = r"
local function lease(key, token, ttl, now)
  local l = redis.call('HGET', key, 'l')
  if l then
    local holder, expiry = string.match(l, '^(%S+) (%d+)$')
    local left = (tonumber(expiry) or 0) - now
    if holder and holder ~= token and left > 0 then
      return 'held ' .. string.format('%.0f', left)
    end
  end
  redis.call('HSET', key, 'l', token .. ' ' .. string.format('%.0f', now + tonumber(ttl)))
  local pttl = redis.call('PTTL', key)
  if pttl >= 0 and pttl < tonumber(ttl) then redis.call('PEXPIRE', key, ttl) end
  if pttl == -1 and redis.call('HLEN', key) == 1 then redis.call('PEXPIRE', key, ttl) end
  return 'won'
end
";

/// `fresh(m, now)`: whether metadata `m` (`"<f> <t> <e> ..."`) says the entry has not
/// expired.
const FRESH_FN: &str = r"
local function fresh(m, now)
  if not m then return false end
  local e = string.match(m, '^%d+ %x+ (%d+)')
  return e ~= nil and tonumber(e) > now
end
";

/// `write(...)`: replaces the value hash (whatever type the key had) with its two fields, `v`
/// (the payload) and `m` (`"<f> <t> <e> <w>"`, plus `" <tags JSON>"` for a tagged entry, where
/// `e` is the absolute expiry on the server clock in Unix milliseconds, so a read needs no
/// `PTTL`), sets its TTL in milliseconds (`ttl` plus `stale`, the window in which it may
/// still be read as stale) and publishes the backplane message.
///
/// `expect` guards a load's write-through: `*` writes whatever the key holds; otherwise the
/// write happens only if the key's invalidation marker `t` (left by `REMOVE`) is still the one
/// the read before the load saw (`''`: none), so a value loaded before another process's
/// invalidation does not land after it. `lease` (`''`: none) is the token of the key's lease
/// the load holds: the write happens only if the key still holds it, so an invalidation that
/// removed the key (by key, pattern or `clear`) while the load ran refuses it too. The write
/// replaces the hash, which ends the lease. `channel` `''`: publish nothing (a batch
/// publishes once for all its keys). Returns 1 when written, 0 when refused.
const WRITE_FN: &str = r"
local function write(key, payload, f, t, ttl, stale, w, tags, channel, message, expect, lease)
  if expect ~= '*' and redis.call('TYPE', key).ok == 'hash' then
    local marker = redis.call('HGET', key, 't') or ''
    if marker ~= expect then return 0 end
  end
  if lease ~= '' then
    local l = redis.call('HGET', key, 'l')
    if not l or string.sub(l, 1, #lease + 1) ~= lease .. ' ' then return 0 end
  end
  redis.call('UNLINK', key)
  local now = redis.call('TIME')
  local e = string.format('%.0f', tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000) + tonumber(ttl))
  local m = f .. ' ' .. t .. ' ' .. e
  if w ~= '' then m = m .. ' ' .. w end
  if tags ~= '' then m = m .. ' ' .. tags end
  redis.call('HSET', key, 'v', payload, 'm', m)
  redis.call('PEXPIRE', key, tonumber(ttl) + tonumber(stale))
  if channel ~= '' then redis.call('PUBLISH', channel, message) end
  return 1
end
";

/// `read_checked(key, gen, tag_prefix, token, lease_ms, now)`: reads a value hash and checks
/// its tags in the same script (standalone servers, where the tag keys are on the same server).
/// `gen` is the namespace generation read by the script (`0` before any), `now` the server
/// clock in ms, or nil to read it when needed.
///
/// Returns `{v, m, t, gen, lease}`: the fields as `HMGET key v m t` would, with `v` and `m`
/// false when a tag invalidated after the write hides the entry; the namespace generation at
/// this read (`0` before any; a load that follows a miss writes its entry as of this
/// generation, so a tag invalidated while it loaded hides it); and, when a token is given and
/// no fresh entry is visible, the outcome of taking the key's lease (`LEASE_FN`; `''`
/// otherwise). A malformed `m` is returned as is (the client reports it); a key of another
/// type is a `WRONGTYPE` error.
const READ_CHECKED_FN: &str = r"
local function read_checked(key, gen, tag_prefix, token, lease_ms, now)
  local h = redis.call('HMGET', key, 'v', 'm', 't')
  if h[1] and h[2] then
    local w, tags = string.match(h[2], '^%d+ %x+ %d+ (%d+) (.*)$')
    if w then
      local ok, list = pcall(cjson.decode, tags)
      local hidden = not ok or type(list) ~= 'table'
      if not hidden then
        for _, tag in ipairs(list) do
          local g = redis.call('GET', tag_prefix .. tostring(tag))
          if g and (tonumber(g) or math.huge) > tonumber(w) then hidden = true end
        end
      end
      if hidden then h = {false, false, h[3]} end
    end
  end
  local taken = ''
  if token ~= '' then
    now = now or now_ms()
    if not (h[1] and fresh(h[2], now)) then taken = lease(key, token, lease_ms, now) end
  end
  return {h[1], h[2], h[3], gen, taken}
end
";

/// `read_plain(key, token, lease_ms, now)`: reads a value hash and, when a token is given and
/// no fresh entry is there, takes its lease (`now` as in `READ_CHECKED_FN`). Returns `{v, m, t, lease}` (`lease` as in
/// `READ_CHECKED_FN`).
const READ_PLAIN_FN: &str = r"
local function read_plain(key, token, lease_ms, now)
  local h = redis.call('HMGET', key, 'v', 'm', 't')
  local taken = ''
  if token ~= '' then
    now = now or now_ms()
    if not (h[1] and fresh(h[2], now)) then taken = lease(key, token, lease_ms, now) end
  end
  return {h[1], h[2], h[3], taken}
end
";

/// `each(keys, first, shared, step, f)`: the answers of `f(i, a)` for `keys[i]`, `i` from
/// `first`, where `a` is the index in `ARGV` of the key's first argument (`shared` arguments
/// for the whole batch, then `step` per key), for the batch scripts. A key whose call fails (e.g. a key of another type)
/// answers `'!' .. error` instead: the others still answer. Also returns whether a call
/// answered 1 or failed (a batch write then publishes).
const EACH_FN: &str = r"
local function each(keys, first, shared, step, f)
  local out, changed = {}, false
  for i = first, #keys do
    local ok, r = pcall(f, i, shared + (i - first) * step + 1)
    if ok then
      if r == 1 then changed = true end
    else
      changed = true
      if type(r) == 'table' then r = r.err end
      r = '!' .. tostring(r)
    end
    out[#out + 1] = r
  end
  return out, changed
end
";

/// Reads a tagged entry and checks its tags in the same round trip (standalone servers).
/// KEYS[1]: value key, KEYS[2]: gen key. ARGV[1]: the tag key prefix; ARGV[2], ARGV[3]: a
/// lease token and its lifetime in ms (`''`: take no lease). Returns `READ_CHECKED_FN`'s
/// answer.
const GET: &str = r"
local gen = redis.call('HGET', KEYS[2], 'gen') or '0'
return read_checked(KEYS[1], gen, ARGV[1], ARGV[2], ARGV[3], nil)
";

/// Reads a batch of entries in one round trip on a standalone server, as `GET` reads one.
/// KEYS[1]: gen key, then the value keys. ARGV: tag key prefix, lease token (`''`: take no
/// lease), its lifetime in ms. Returns one `READ_CHECKED_FN` answer per value key (or `'!'`
/// and the error, `EACH_FN`).
const GET_MANY: &str = r"
local gen = redis.call('HGET', KEYS[1], 'gen') or '0'
local now = nil
if ARGV[2] ~= '' then now = now_ms() end
local out = each(KEYS, 2, 3, 0, function(i)
  return read_checked(KEYS[i], gen, ARGV[1], ARGV[2], ARGV[3], now)
end)
return out
";

/// Reads a batch of entries of one hash slot (a cluster), taking the lease of each key with
/// no fresh entry when a token is given. KEYS: value keys. ARGV: lease token (`''`: none), its
/// lifetime in ms. Returns one `READ_PLAIN_FN` answer per key (or `'!'` and the error).
const READ_MANY: &str = r"
local now = nil
if ARGV[1] ~= '' then now = now_ms() end
local out = each(KEYS, 1, 2, 0, function(i)
  return read_plain(KEYS[i], ARGV[1], ARGV[2], now)
end)
return out
";

/// Reads an entry and, when no fresh one is there, takes its lease, in one round trip: the
/// read before a load, untagged or on a cluster (tags are checked by the client there).
/// KEYS[1]: value key. ARGV[1], ARGV[2]: lease token and lifetime in ms. Returns
/// `{v, m, t, lease}` (`lease` as in `GET`).
const LEASE_READ: &str = r"
return read_plain(KEYS[1], ARGV[1], ARGV[2], nil)
";

/// Takes the key's lease whatever it holds (a refresh-ahead reload, or an entry the client
/// found hidden). KEYS[1]: value key. ARGV: token, lifetime in ms. Returns `LEASE_FN`'s
/// outcome.
const TAKE_LEASE: &str = r"
return lease(KEYS[1], ARGV[1], ARGV[2], now_ms())
";

/// Extends the lease `token` holds to `ttl` ms from now. KEYS[1]: value key. ARGV: token,
/// lifetime in ms. Returns 1, or 0 when the key no longer holds that lease.
const RENEW_LEASE: &str = r"
local l = redis.call('HGET', KEYS[1], 'l')
if not l or string.sub(l, 1, #ARGV[1] + 1) ~= ARGV[1] .. ' ' then return 0 end
local now = now_ms()
redis.call('HSET', KEYS[1], 'l', ARGV[1] .. ' ' .. string.format('%.0f', now + tonumber(ARGV[2])))
local pttl = redis.call('PTTL', KEYS[1])
if pttl >= 0 and pttl < tonumber(ARGV[2]) then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 1
";

/// Gives up the lease `token` holds (its load wrote nothing). KEYS[1]: value key. ARGV:
/// token. Returns 1, or 0 when the key no longer holds that lease.
const RELEASE_LEASE: &str = r"
local l = redis.call('HGET', KEYS[1], 'l')
if not l or string.sub(l, 1, #ARGV[1] + 1) ~= ARGV[1] .. ' ' then return 0 end
redis.call('HDEL', KEYS[1], 'l')
return 1
";

/// Standalone write in one round trip. KEYS: value key, gen key. ARGV: payload, format,
/// fingerprint, ttl ms, tags JSON (`''` for none), channel, message, expect, read generation
/// (`''`: none), stale window ms, lease token (`''`: none). Every entry records a generation `w` (a namespace flush or a tag invalidated
/// after it hides the entry): the one its load read before running when known, else the
/// current one. Only tagged entries raise `maxttl`, which bounds the life of tag keys.
const SET_STANDALONE: &str = r"
local tag_ttl = '0'
if ARGV[5] ~= '' then tag_ttl = ARGV[4] end
local w = generation(KEYS[2], tag_ttl)
if ARGV[9] ~= '' then w = ARGV[9] end
return write(KEYS[1], ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[10], w, ARGV[5], ARGV[6], ARGV[7], ARGV[8], ARGV[11])
";

/// Standalone write of a batch in one round trip, one backplane message for all of it.
/// KEYS[1]: gen key, then the value keys. ARGV[1], ARGV[2]: channel, message; then nine per
/// value key: payload, format, fingerprint, ttl ms, tags JSON, expect, read generation, stale
/// window ms, lease token (as `SET_STANDALONE`'s). The generation is read once, raising
/// `maxttl` to the longest TTL of the tagged entries. Returns 1 (written), 0 (refused) or
/// `'!'` and the error per value key; publishes once if any was written or failed.
const SET_MANY_STANDALONE: &str = r"
local tag_ttl = 0
for a = 3, #ARGV, 9 do
  if ARGV[a + 4] ~= '' then tag_ttl = math.max(tag_ttl, tonumber(ARGV[a + 3])) end
end
local current = generation(KEYS[1], string.format('%.0f', tag_ttl))
local out, changed = each(KEYS, 2, 2, 9, function(i, a)
  local w = current
  if ARGV[a + 6] ~= '' then w = ARGV[a + 6] end
  return write(KEYS[i], ARGV[a], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3], ARGV[a + 7], w, ARGV[a + 4],
    '', '', ARGV[a + 5], ARGV[a + 8])
end)
if changed then redis.call('PUBLISH', ARGV[1], ARGV[2]) end
return out
";

/// Cluster, step 1 of a tagged write (the metadata slot). KEYS: gen key. ARGV: ttl ms.
const GENERATION: &str = r"
return generation(KEYS[1], ARGV[1])
";

/// Cluster, step 2 of a write (the value's slot). KEYS: value key. ARGV: payload, format,
/// fingerprint, ttl ms, w, tags JSON, channel, message, expect, stale window ms, lease token.
const WRITE: &str = r"
return write(KEYS[1], ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[10], ARGV[5], ARGV[6], ARGV[7], ARGV[8], ARGV[9], ARGV[11])
";

/// Cluster, step 2 of a batch write (one hash slot; the client publishes once afterwards).
/// KEYS: value keys. ARGV: nine per key: payload, format, fingerprint, ttl ms, w, tags JSON,
/// expect, stale window ms, lease token. Returns 1, 0 or `'!'` and the error per key.
const WRITE_MANY: &str = r"
local out = each(KEYS, 1, 0, 9, function(i, a)
  return write(KEYS[i], ARGV[a], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3], ARGV[a + 7], ARGV[a + 4],
    ARGV[a + 5], '', '', ARGV[a + 6], ARGV[a + 8])
end)
return out
";

/// `bump(gen_key)`: raises the namespace generation to `max(gen + 1, server time in µs)` and
/// returns it: the moment of a tag invalidation or a flush, after every write before it.
const BUMP_FN: &str = r"
local function bump(gen_key)
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
  local g = tonumber(redis.call('HGET', gen_key, 'gen') or '0') or 0
  local gs = string.format('%.0f', math.max(g + 1, now))
  redis.call('HSET', gen_key, 'gen', gs)
  return gs
end
";

/// Invalidates tags. KEYS: gen key, then one key per tag. ARGV: minimum tag-key TTL in ms,
/// channel, message. Tag keys live `max(maxttl, minimum) + 1 s`: by then every entry written
/// before this invalidation has expired, so the key is no longer needed.
const INVALIDATE_TAGS: &str = r"
local gs = bump(KEYS[1])
local m = tonumber(redis.call('HGET', KEYS[1], 'maxttl') or '0') or 0
local ttl = string.format('%.0f', math.max(m, tonumber(ARGV[1])) + 1000)
for i = 2, #KEYS do redis.call('SET', KEYS[i], gs, 'PX', ttl) end
redis.call('PUBLISH', ARGV[2], ARGV[3])
return gs
";

/// Flushes the namespace in O(1), when invalidations queued during an outage overflowed:
/// raises the generation like a tag invalidation and records it as `flushed`; every entry
/// written before (a smaller `w`) is then invisible to readers, who learn `flushed` from the
/// backplane message or by reading it. KEYS: gen key. ARGV: channel, message prefix (the
/// generation and `}` are appended).
const FLUSH: &str = r"
local gs = bump(KEYS[1])
redis.call('HSET', KEYS[1], 'flushed', gs)
redis.call('PUBLISH', ARGV[1], ARGV[2] .. gs .. '}')
return gs
";

/// See [`FLUSH`].
pub(crate) static FLUSH_SCRIPT: LazyLock<Script> =
    LazyLock::new(|| Script::new(&format!("{BUMP_FN}{FLUSH}")));

/// Invalidates keys: each value hash is replaced by an invalidation marker `t` (a random id)
/// that lives [`TOMBSTONE_TTL_MS`], so a load that read the key before this invalidation and
/// writes through after it is refused (`WRITE_FN`). KEYS: value keys (one slot). ARGV: marker,
/// marker lifetime in ms, channel (`''`: publish nothing), message.
const REMOVE: &str = r"
for i = 1, #KEYS do
  redis.call('UNLINK', KEYS[i])
  redis.call('HSET', KEYS[i], 't', ARGV[1])
  redis.call('PEXPIRE', KEYS[i], ARGV[2])
end
if ARGV[3] ~= '' then redis.call('PUBLISH', ARGV[3], ARGV[4]) end
return 1
";

/// How long an invalidation marker stays (ms): a load slower than this between its read and
/// its write-through is not protected by it.
pub(crate) const TOMBSTONE_TTL_MS: u64 = 60_000;

/// See [`REMOVE`].
pub(crate) static REMOVE_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(REMOVE));

/// See [`GET`].
pub(crate) static GET_SCRIPT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(&format!(
        "{NOW_FN}{LEASE_FN}{FRESH_FN}{READ_CHECKED_FN}{GET}"
    ))
});

/// See [`GET_MANY`].
pub(crate) static GET_MANY_SCRIPT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(&format!(
        "{NOW_FN}{LEASE_FN}{FRESH_FN}{READ_CHECKED_FN}{EACH_FN}{GET_MANY}"
    ))
});

/// See [`LEASE_READ`].
pub(crate) static LEASE_READ_SCRIPT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(&format!(
        "{NOW_FN}{LEASE_FN}{FRESH_FN}{READ_PLAIN_FN}{LEASE_READ}"
    ))
});

/// See [`READ_MANY`].
pub(crate) static READ_MANY_SCRIPT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(&format!(
        "{NOW_FN}{LEASE_FN}{FRESH_FN}{READ_PLAIN_FN}{EACH_FN}{READ_MANY}"
    ))
});

/// See [`TAKE_LEASE`].
pub(crate) static TAKE_LEASE_SCRIPT: LazyLock<Script> =
    LazyLock::new(|| Script::new(&format!("{NOW_FN}{LEASE_FN}{TAKE_LEASE}")));

/// See [`RENEW_LEASE`].
pub(crate) static RENEW_LEASE_SCRIPT: LazyLock<Script> =
    LazyLock::new(|| Script::new(&format!("{NOW_FN}{RENEW_LEASE}")));

/// See [`RELEASE_LEASE`].
pub(crate) static RELEASE_LEASE_SCRIPT: LazyLock<Script> =
    LazyLock::new(|| Script::new(RELEASE_LEASE));

/// See [`SET_STANDALONE`].
pub(crate) static SET_STANDALONE_SCRIPT: LazyLock<Script> =
    LazyLock::new(|| Script::new(&format!("{GENERATION_FN}{WRITE_FN}{SET_STANDALONE}")));

/// See [`SET_MANY_STANDALONE`].
pub(crate) static SET_MANY_STANDALONE_SCRIPT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(&format!(
        "{GENERATION_FN}{WRITE_FN}{EACH_FN}{SET_MANY_STANDALONE}"
    ))
});

/// See [`GENERATION`].
pub(crate) static GENERATION_SCRIPT: LazyLock<Script> =
    LazyLock::new(|| Script::new(&format!("{GENERATION_FN}{GENERATION}")));

/// See [`WRITE`].
pub(crate) static WRITE_SCRIPT: LazyLock<Script> =
    LazyLock::new(|| Script::new(&format!("{WRITE_FN}{WRITE}")));

/// See [`WRITE_MANY`].
pub(crate) static WRITE_MANY_SCRIPT: LazyLock<Script> =
    LazyLock::new(|| Script::new(&format!("{WRITE_FN}{EACH_FN}{WRITE_MANY}")));

/// See [`INVALIDATE_TAGS`].
pub(crate) static INVALIDATE_TAGS_SCRIPT: LazyLock<Script> =
    LazyLock::new(|| Script::new(&format!("{BUMP_FN}{INVALIDATE_TAGS}")));

/// Minimum lifetime of a tag key in milliseconds (when no tagged entry was written yet).
pub(crate) const MIN_TAG_TTL_MS: u64 = 60_000;
