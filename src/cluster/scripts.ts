/**
 * The registry's Lua scripts: each runs atomically in Redis, so that a lease is checked and
 * taken (or renewed, or handed over) in one step. A lease value is JSON
 * `{node, epoch, owner, state}`; `state` is `live` (renewed by its node's heartbeat) or `grace`
 * (its device dropped: it waits `--lease-grace` for the same owner, then lapses).
 *
 * KEYS[1] is the lease, KEYS[2] the epoch counter, KEYS[3] the lease index; ARGV[1] the lease
 * id (as announced), ARGV[2] the channel.
 */

const ANNOUNCE = `
local function announce(kind, v, ttl)
  redis.call('PUBLISH', ARGV[2], cjson.encode({t = kind, k = ARGV[1], node = v and v.node or ARGV[3], epoch = v and v.epoch or 0, owner = v and v.owner or '', ttl = ttl}))
end
local function take(node, owner, ttl)
  local epoch = redis.call('INCR', KEYS[2])
  local v = {node = node, epoch = epoch, owner = owner, state = 'live'}
  redis.call('SET', KEYS[1], cjson.encode(v), 'PX', ttl)
  redis.call('HSET', KEYS[3], ARGV[1], '1')
  announce('claim', v, tonumber(ttl))
  return epoch
end
`;

/**
 * Claim: ARGV[3] node, ARGV[4] owner, ARGV[5] ttl. Returns `{1, epoch}` when the node holds the
 * lease now (taken, renewed, or brought back from grace), `{0, value}` when someone else does.
 * A lease in grace goes to its own owner on any node (the device reconnected elsewhere), to no
 * one else.
 */
export const CLAIM = `${ANNOUNCE}
local raw = redis.call('GET', KEYS[1])
if raw then
  local v = cjson.decode(raw)
  if v.node == ARGV[3] and v.owner == ARGV[4] then
    if v.state ~= 'live' then
      v.state = 'live'
      redis.call('SET', KEYS[1], cjson.encode(v), 'PX', ARGV[5])
      announce('claim', v, tonumber(ARGV[5]))
    else
      redis.call('PEXPIRE', KEYS[1], ARGV[5])
    end
    return {1, v.epoch}
  end
  if not (v.owner == ARGV[4] and v.state == 'grace') then
    return {0, raw}
  end
end
return {1, take(ARGV[3], ARGV[4], ARGV[5])}
`;

/**
 * Renew (heartbeat): ARGV[3] node, ARGV[4] owner, ARGV[5] epoch, ARGV[6] ttl. `{1, epoch}`:
 * still ours (a live lease gets its TTL back; one in grace is left to lapse). `{2, epoch}`: it
 * had lapsed and nobody took it (Redis restarted empty, or this node was cut off): taken again
 * under a new epoch. `{0, value}`: another node holds it now, fenced by a newer epoch: give up.
 */
export const RENEW = `${ANNOUNCE}
local raw = redis.call('GET', KEYS[1])
if not raw then
  return {2, take(ARGV[3], ARGV[4], ARGV[6])}
end
local v = cjson.decode(raw)
if v.node == ARGV[3] and tostring(v.epoch) == ARGV[5] then
  if v.state == 'live' then redis.call('PEXPIRE', KEYS[1], ARGV[6]) end
  return {1, v.epoch}
end
return {0, raw}
`;

/**
 * Grace or release: ARGV[3] node, ARGV[4] epoch, ARGV[5] grace ms (0: release now). Only the
 * holder of that epoch may. Returns 1 when done.
 */
export const LET_GO = `${ANNOUNCE}
local raw = redis.call('GET', KEYS[1])
if not raw then return 0 end
local v = cjson.decode(raw)
if v.node ~= ARGV[3] or tostring(v.epoch) ~= ARGV[4] then return 0 end
if tonumber(ARGV[5]) > 0 then
  v.state = 'grace'
  redis.call('SET', KEYS[1], cjson.encode(v), 'PX', ARGV[5])
  announce('grace', v, tonumber(ARGV[5]))
else
  redis.call('DEL', KEYS[1])
  announce('release', v, 0)
end
return 1
`;

/**
 * Register: KEYS[1] the node's record, KEYS[2] the node index; ARGV[1] the node id, ARGV[2] the
 * record (JSON, with the `instance` of the process), ARGV[3] the TTL. Returns nothing once
 * written, or `{record, pttl}` of the record in the way: another process registered the same
 * node id, and its record still lives.
 */
export const REGISTER = `
local raw = redis.call('GET', KEYS[1])
if raw then
  local ok, v = pcall(cjson.decode, raw)
  if ok and type(v) == 'table' and v.instance and v.instance ~= cjson.decode(ARGV[2]).instance then
    return {raw, redis.call('PTTL', KEYS[1])}
  end
end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
redis.call('HSET', KEYS[2], ARGV[1], '1')
return false
`;

/**
 * Lists an index (KEYS[1]) with each live entry's value and remaining TTL, pruning entries whose
 * key lapsed. ARGV[1] is the key prefix of the entries. Returns a flat `{id, value, pttl, …}`.
 */
export const LIST = `
local out = {}
for _, id in ipairs(redis.call('HKEYS', KEYS[1])) do
  local key = ARGV[1] .. id
  local raw = redis.call('GET', key)
  if raw then
    table.insert(out, id)
    table.insert(out, raw)
    table.insert(out, redis.call('PTTL', key))
  else
    redis.call('HDEL', KEYS[1], id)
  end
end
return out
`;
