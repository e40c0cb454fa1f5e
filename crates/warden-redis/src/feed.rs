//! The replica's feed: load every live rule, then follow the stream from where the load began;
//! on a broken connection, reconnect with back-off and resume from the last entry applied, or
//! load again when the stream can no longer say what was missed.

use std::sync::{Arc, Weak};
use std::time::Duration;

use redis::{RedisResult, Value};
use warden::cae::InMemoryRevocations;

use crate::connection::{Connection, Endpoint};
use crate::rule::{self, EntryId};
use crate::state::{FeedState, Keys, Shared};

/// How long one `XREAD` waits for new entries: the feed proves itself current at least this
/// often while connected.
pub(crate) const BLOCK: Duration = Duration::from_millis(500);
/// Entries read at once.
const BATCH: usize = 1000;
/// Keys asked of each `SCAN` step.
const SCAN_COUNT: usize = 1000;
/// Reconnection back-off: from the first delay, doubling, up to the ceiling, with jitter.
pub(crate) const RECONNECT_FIRST: Duration = Duration::from_millis(100);
pub(crate) const RECONNECT_CEILING: Duration = Duration::from_secs(5);
/// The response timeout of the feed's connection: `XREAD` waits [`BLOCK`], plus this margin.
const RESPONSE_MARGIN: Duration = Duration::from_secs(2);
/// Past this long without a sync the feed counts as disconnected, whatever its task last said.
pub(crate) const SILENCE_LIMIT: Duration = Duration::from_secs(5);
/// The one `maxmemory-policy` under which Redis never drops a rule before its TTL.
pub(crate) const NO_EVICTION: &str = "noeviction";

/// A `maxmemory-policy` other than `noeviction` that Redis runs with (on a cluster, any of its
/// primaries), read from `INFO memory` (answered also where a managed service disables
/// `CONFIG`): `None` when every node says `noeviction`, `"not reported"` when one does not say.
pub(crate) async fn unsafe_eviction_policy(conn: &mut Connection) -> RedisResult<Option<String>> {
    let infos = conn.memory_info().await?;
    if infos.is_empty() {
        return Ok(Some("not reported".to_owned()));
    }
    for info in infos {
        let policy = info.as_deref().and_then(|info| {
            info.lines()
                .find_map(|line| line.strip_prefix("maxmemory_policy:"))
                .map(str::trim)
        });
        match policy {
            Some(NO_EVICTION) => {}
            Some(other) => return Ok(Some(other.to_owned())),
            None => return Ok(Some("not reported".to_owned())),
        }
    }
    Ok(None)
}

/// Fails unless Redis runs with `maxmemory-policy noeviction`. Every other policy may evict a
/// rule key (they all carry a TTL, so `volatile-*` ones too) when memory runs short, a flood of
/// DPoP proofs say, and a replica that loads the rules then misses it while saying current.
pub(crate) async fn ensure_no_eviction(conn: &mut Connection) -> RedisResult<()> {
    match unsafe_eviction_policy(conn).await? {
        None => Ok(()),
        Some(policy) => {
            tracing::error!(
                maxmemory_policy = policy.as_str(),
                "Redis may evict revocation rules: set maxmemory-policy noeviction (docs/fleet.md); \
                 the feed does not report current until then"
            );
            Err(redis::RedisError::from((
                redis::ErrorKind::Client,
                "Redis may evict revocation rules (maxmemory-policy is not noeviction)",
                policy,
            )))
        }
    }
}

/// A connection for the feed: its own, since `XREAD BLOCK` holds it while it waits.
pub(crate) async fn connect(endpoint: &Endpoint) -> RedisResult<Connection> {
    endpoint.dedicated(BLOCK + RESPONSE_MARGIN).await
}

/// Loads every live rule into the replica and returns the stream position the load is current
/// to. The position is read first: a rule written during the load is then also in the stream
/// after it, and applying it twice is harmless.
///
/// The rules are found through their index (`ZSCAN` of one key), never by scanning the keyspace
/// of a Redis other applications share, once the index is known to hold every rule (its
/// marker). Until then, the load scans (`SCAN MATCH`) and backfills the index from what it
/// finds, then sets the marker: rules written before the index existed are indexed once.
pub(crate) async fn load(
    conn: &mut Connection,
    keys: &Keys,
    local: &InMemoryRevocations,
) -> RedisResult<EntryId> {
    let stream = stream_info(conn, keys).await?;
    let position = stream.as_ref().map_or(EntryId::ZERO, |s| s.last);
    // Keys under a cluster's hash tag were indexed from the first (and `SCAN` would read one
    // node of many).
    let indexed: bool = keys.hash_tagged
        || redis::cmd("EXISTS")
            .arg(&keys.indexed_marker)
            .query_async(conn)
            .await?;
    if indexed {
        load_indexed(conn, keys, local).await?;
        // A replica of an older warden-redis writes rules without indexing them: during a
        // rolling upgrade those reach the index's readers only through the stream, so what the
        // stream still holds is applied too (applying a rule twice changes nothing).
        if stream.is_some() {
            load_stream(conn, keys, local, position).await?;
        }
    } else {
        load_scanned(conn, keys, local).await?;
        let _: () = redis::cmd("SET")
            .arg(&keys.indexed_marker)
            .arg(1)
            .query_async(conn)
            .await?;
    }
    Ok(position)
}

/// The rules the index names. Keys Redis has expired read as nothing (its clock decides, not
/// this replica's).
async fn load_indexed(
    conn: &mut Connection,
    keys: &Keys,
    local: &InMemoryRevocations,
) -> RedisResult<()> {
    let mut cursor: u64 = 0;
    loop {
        // Member, score, member, score, …
        let (next, pairs): (u64, Vec<String>) = redis::cmd("ZSCAN")
            .arg(&keys.index)
            .arg(cursor)
            .arg("COUNT")
            .arg(SCAN_COUNT)
            .query_async(conn)
            .await?;
        let found: Vec<String> = pairs
            .chunks(2)
            .map(|pair| format!("{}{}", keys.rule_prefix, pair[0]))
            .collect();
        apply_rules(conn, keys, local, &found).await?;
        if next == 0 {
            return Ok(());
        }
        cursor = next;
    }
}

/// Every rule the stream still holds, up to `position`.
async fn load_stream(
    conn: &mut Connection,
    keys: &Keys,
    local: &InMemoryRevocations,
    position: EntryId,
) -> RedisResult<()> {
    let mut start = "-".to_owned();
    loop {
        let reply: Value = redis::cmd("XRANGE")
            .arg(&keys.stream)
            .arg(&start)
            .arg(position.to_string())
            .arg("COUNT")
            .arg(BATCH)
            .query_async(conn)
            .await?;
        let Value::Array(entries) = &reply else {
            return Ok(());
        };
        let mut last = None;
        for (id, fields) in entries.iter().filter_map(entry_of) {
            last = Some(id);
            let identity = field(fields, "rule").and_then(string_of);
            let before = field(fields, "before")
                .and_then(string_of)
                .and_then(|b| b.parse::<u64>().ok());
            if let Some(revocation) = identity.zip(before).and_then(|(i, b)| rule::rule(&i, b)) {
                local.apply(revocation);
            }
        }
        match last {
            Some(id) if entries.len() >= BATCH => start = format!("({id}"),
            _ => return Ok(()),
        }
    }
}

/// Rules written before the index existed: every key under the prefix, by `SCAN`.
async fn load_scanned(
    conn: &mut Connection,
    keys: &Keys,
    local: &InMemoryRevocations,
) -> RedisResult<()> {
    let mut cursor: u64 = 0;
    loop {
        let (next, found): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(&keys.rule_pattern)
            .arg("COUNT")
            .arg(SCAN_COUNT)
            .query_async(conn)
            .await?;
        apply_rules(conn, keys, local, &found).await?;
        backfill(conn, keys, &found).await?;
        if next == 0 {
            return Ok(());
        }
        cursor = next;
    }
}

/// Indexes the rule keys a scan found, each with its expiry by Redis's clock.
async fn backfill(conn: &mut Connection, keys: &Keys, found: &[String]) -> RedisResult<()> {
    if found.is_empty() {
        return Ok(());
    }
    let (now, _): (u64, u64) = redis::cmd("TIME").query_async(conn).await?;
    let mut ttls = redis::pipe();
    for key in found {
        ttls.cmd("PTTL").arg(key);
    }
    let ttls: Vec<i64> = ttls.query_async(conn).await?;
    let mut index = redis::pipe();
    for (key, ttl) in found.iter().zip(ttls) {
        if let (Some(identity), true) = (key.strip_prefix(&keys.rule_prefix), ttl > 0) {
            let expiry = now + (ttl as u64).div_ceil(1000);
            index
                .cmd("ZADD")
                .arg(&keys.index)
                .arg(expiry)
                .arg(identity)
                .ignore();
        }
    }
    index.query_async::<()>(conn).await
}

/// Reads the rule keys `found` and applies each to the replica.
async fn apply_rules(
    conn: &mut Connection,
    keys: &Keys,
    local: &InMemoryRevocations,
    found: &[String],
) -> RedisResult<()> {
    if found.is_empty() {
        return Ok(());
    }
    // Read as text and parsed one by one: a key someone else wrote under the prefix is skipped,
    // never a reason to fail the whole load.
    let instants: Vec<Option<String>> = redis::cmd("MGET").arg(found).query_async(conn).await?;
    for (key, before) in found.iter().zip(instants) {
        let (Some(identity), Some(before)) = (key.strip_prefix(&keys.rule_prefix), before) else {
            continue; // not ours, or expired meanwhile
        };
        match before.parse().ok().and_then(|b| rule::rule(identity, b)) {
            Some(revocation) => local.apply(revocation),
            None => tracing::warn!(
                key_len = key.len(),
                "ignored a key warden-redis did not write"
            ),
        }
    }
    Ok(())
}

/// What `XINFO STREAM` says of the stream, or `None` when there is no stream.
pub(crate) struct StreamInfo {
    /// The newest entry ever added.
    pub(crate) last: EntryId,
    /// The newest entry deleted by `XDEL` (Redis 7.0 and later; `None` before).
    pub(crate) max_deleted: Option<EntryId>,
    /// The oldest entry still held.
    pub(crate) first: Option<EntryId>,
}

pub(crate) async fn stream_info(
    conn: &mut Connection,
    keys: &Keys,
) -> RedisResult<Option<StreamInfo>> {
    let exists: bool = redis::cmd("EXISTS")
        .arg(&keys.stream)
        .query_async(conn)
        .await?;
    if !exists {
        return Ok(None);
    }
    let info: Value = redis::cmd("XINFO")
        .arg("STREAM")
        .arg(&keys.stream)
        .query_async(conn)
        .await?;
    let text = |name: &str| field(&info, name).and_then(entry_id_of);
    let first = field(&info, "first-entry").and_then(|entry| match entry {
        Value::Array(parts) => parts.first().and_then(entry_id_of),
        _ => None,
    });
    Ok(Some(StreamInfo {
        last: text("last-generated-id").unwrap_or(EntryId::ZERO),
        max_deleted: text("max-deleted-entry-id"),
        first,
    }))
}

/// Whether entries after `position` may have been lost: trimmed away, or the stream gone or
/// recreated (Redis restarted without persistence). Then only a full load is safe.
pub(crate) fn has_gap(info: Option<&StreamInfo>, position: EntryId) -> bool {
    let Some(info) = info else {
        return position != EntryId::ZERO;
    };
    if info.last < position {
        return true;
    }
    // Trimming does not move `max-deleted-entry-id` (Redis 7.0 counts XDEL only), so the oldest
    // entry held decides: newer than the last one applied, and what came between may be gone.
    // (When exactly the entries up to the position were trimmed this reloads needlessly, which
    // costs time, never a rule.)
    info.max_deleted.is_some_and(|deleted| deleted > position)
        || info
            .first
            .map_or(info.last > position, |first| first > position)
}

/// Whether the stream was trimmed past `position` while the feed read it: `XREAD` from an entry
/// no longer held starts silently at the oldest one held, so the trimmed entries would be lost.
/// Only a read that brought entries needs asking (trimming happens when entries are added).
async fn trimmed_past(conn: &mut Connection, keys: &Keys, position: EntryId) -> RedisResult<bool> {
    let oldest: Value = redis::cmd("XRANGE")
        .arg(&keys.stream)
        .arg("-")
        .arg("+")
        .arg("COUNT")
        .arg(1)
        .query_async(conn)
        .await?;
    let first = match &oldest {
        Value::Array(entries) => entries.first().and_then(entry_of),
        _ => None,
    };
    Ok(first.is_some_and(|(id, _)| id > position))
}

/// Reads what follows `position`, waiting up to [`BLOCK`]; applies it and returns the new
/// position and whether a full batch came (more is waiting).
pub(crate) async fn follow(
    conn: &mut Connection,
    keys: &Keys,
    local: &InMemoryRevocations,
    position: EntryId,
) -> RedisResult<(EntryId, bool)> {
    let reply: Value = redis::cmd("XREAD")
        .arg("COUNT")
        .arg(BATCH)
        .arg("BLOCK")
        .arg(BLOCK.as_millis() as u64)
        .arg("STREAMS")
        .arg(&keys.stream)
        .arg(position.to_string())
        .query_async(conn)
        .await?;
    let entries = stream_entries(&reply);
    if !entries.is_empty() && trimmed_past(conn, keys, position).await? {
        tracing::warn!("revocation feed fell behind the stream's trimming; reloading every rule");
        let reloaded = load(conn, keys, local).await?;
        return Ok((reloaded.max(position), false));
    }
    let mut position = position;
    let mut read = 0;
    for entry in entries {
        read += 1;
        let Some((id, fields)) = entry else { continue };
        position = position.max(id);
        let identity = field(fields, "rule").and_then(string_of);
        let before = field(fields, "before")
            .and_then(string_of)
            .and_then(|b| b.parse::<u64>().ok());
        match identity.zip(before).and_then(|(i, b)| rule::rule(&i, b)) {
            Some(revocation) => local.apply(revocation),
            None => {
                tracing::warn!(entry = %id, "ignored a stream entry warden-redis did not write")
            }
        }
    }
    Ok((position, read >= BATCH))
}

/// The entries of an `XREAD` reply for one stream (RESP2 arrays or RESP3 maps).
fn stream_entries(reply: &Value) -> Vec<Option<(EntryId, &Value)>> {
    let streams: Vec<&Value> = match reply {
        Value::Array(streams) => streams
            .iter()
            .filter_map(|s| match s {
                Value::Array(pair) => pair.get(1),
                _ => None,
            })
            .collect(),
        Value::Map(streams) => streams.iter().map(|(_, entries)| entries).collect(),
        _ => Vec::new(),
    };
    streams
        .into_iter()
        .flat_map(|entries| match entries {
            Value::Array(entries) => entries.iter().collect(),
            _ => Vec::new(),
        })
        .map(entry_of)
        .collect()
}

/// One `[id, [field, value, …]]` entry.
fn entry_of(entry: &Value) -> Option<(EntryId, &Value)> {
    match entry {
        Value::Array(parts) => {
            let id = parts.first().and_then(entry_id_of)?;
            Some((id, parts.get(1)?))
        }
        _ => None,
    }
}

/// A field of a reply that is a map, or an array of alternating names and values.
fn field<'v>(value: &'v Value, name: &str) -> Option<&'v Value> {
    match value {
        Value::Map(pairs) => pairs
            .iter()
            .find(|(k, _)| string_of(k).as_deref() == Some(name))
            .map(|(_, v)| v),
        Value::Array(items) => items
            .chunks_exact(2)
            .find(|pair| string_of(&pair[0]).as_deref() == Some(name))
            .map(|pair| &pair[1]),
        _ => None,
    }
}

fn string_of(value: &Value) -> Option<String> {
    match value {
        Value::BulkString(bytes) => String::from_utf8(bytes.clone()).ok(),
        Value::SimpleString(text) => Some(text.clone()),
        Value::VerbatimString { text, .. } => Some(text.clone()),
        Value::Int(n) => Some(n.to_string()),
        _ => None,
    }
}

fn entry_id_of(value: &Value) -> Option<EntryId> {
    EntryId::parse(&string_of(value)?)
}

/// The feed's life: connect, load or resume, follow; on failure, back off and start again.
/// Holds the store weakly: it ends when the store is dropped.
pub(crate) async fn run(shared: Weak<Shared>, mut position: EntryId, mut conn: Option<Connection>) {
    let mut delay = RECONNECT_FIRST;
    loop {
        let Some(store) = shared.upgrade() else {
            return;
        };
        let result = match conn.as_mut() {
            Some(connection) => step(&store, connection, &mut position).await,
            None => match reconnect(&store, &mut position).await {
                Ok(connection) => {
                    conn = Some(connection);
                    delay = RECONNECT_FIRST;
                    continue;
                }
                Err(error) => Err(error),
            },
        };
        match result {
            Ok(()) => delay = RECONNECT_FIRST,
            Err(error) => {
                if conn.take().is_some() {
                    tracing::warn!(%error, "revocation feed disconnected; reconnecting");
                } else {
                    tracing::debug!(%error, "revocation feed still disconnected");
                }
                store.mark_disconnected();
                drop(store);
                tokio::time::sleep(jittered(delay)).await;
                delay = (delay * 2).min(RECONNECT_CEILING);
            }
        }
    }
}

async fn step(
    store: &Arc<Shared>,
    conn: &mut Connection,
    position: &mut EntryId,
) -> RedisResult<()> {
    if store.policy_check_due() {
        ensure_no_eviction(conn).await?;
    }
    let (next, more) = follow(conn, &store.keys, &store.local, *position).await?;
    *position = next;
    if more {
        // Reading a backlog: not current, and not synced until the backlog is read.
        store.mark_catching_up();
    } else {
        store.mark_synced(FeedState::Current);
    }
    Ok(())
}

/// A new connection, and the replica brought up to date through it: resumed from `position`
/// when the stream still holds everything after it, loaded in full otherwise.
async fn reconnect(store: &Arc<Shared>, position: &mut EntryId) -> RedisResult<Connection> {
    let mut conn = connect(&store.endpoint).await?;
    ensure_no_eviction(&mut conn).await?;
    let info = stream_info(&mut conn, &store.keys).await?;
    if has_gap(info.as_ref(), *position) {
        tracing::info!(
            "revocation feed reloading every rule: the stream no longer holds all it missed"
        );
        *position = load(&mut conn, &store.keys, &store.local).await?;
        store.mark_synced(FeedState::Current);
    } else {
        tracing::info!("revocation feed reconnected; resuming");
    }
    Ok(conn)
}

/// `delay` scaled by a factor in [0.5, 1.0), so replicas cut off together do not reconnect in
/// step.
fn jittered(delay: Duration) -> Duration {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    delay.mul_f64(0.5 + f64::from(nanos % 1000) / 2000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(last: &str, max_deleted: Option<&str>, first: Option<&str>) -> StreamInfo {
        StreamInfo {
            last: EntryId::parse(last).unwrap(),
            max_deleted: max_deleted.map(|d| EntryId::parse(d).unwrap()),
            first: first.map(|f| EntryId::parse(f).unwrap()),
        }
    }

    #[test]
    fn a_gap_is_what_the_stream_can_no_longer_replay() {
        let at = EntryId::parse("100-0").unwrap();
        // The oldest entry held was applied already: resume.
        assert!(!has_gap(Some(&info("200-0", Some("0-0"), Some("1-0"))), at));
        assert!(!has_gap(
            Some(&info("200-0", Some("0-0"), Some("100-0"))),
            at
        ));
        // Entries after the position were trimmed, or deleted.
        assert!(has_gap(
            Some(&info("200-0", Some("0-0"), Some("150-0"))),
            at
        ));
        assert!(has_gap(
            Some(&info("200-0", Some("120-0"), Some("90-0"))),
            at
        ));
        // The stream is gone, or was recreated behind the position.
        assert!(has_gap(None, at));
        assert!(has_gap(Some(&info("50-0", Some("0-0"), Some("1-0"))), at));
        // Never saw a stream and there still is none: nothing to miss.
        assert!(!has_gap(None, EntryId::ZERO));
        // Before Redis 7.0, likewise.
        assert!(!has_gap(Some(&info("200-0", None, Some("90-0"))), at));
        assert!(has_gap(Some(&info("200-0", None, Some("150-0"))), at));
        // Emptied entirely after the position (XTRIM MAXLEN 0): entries may be gone.
        assert!(has_gap(
            Some(&info("300-0", None, None)),
            EntryId::parse("200-0").unwrap()
        ));
        // An empty stream after the position holds nothing to miss.
        assert!(!has_gap(
            Some(&info("200-0", None, None)),
            EntryId::parse("200-0").unwrap()
        ));
    }

    #[test]
    fn the_scan_pattern_escapes_the_prefix() {
        let keys = Keys::new("api[1]*:");
        assert_eq!(keys.rule_pattern, "api\\[1\\]\\*:rule:*");
        assert_eq!(keys.rule_prefix, "api[1]*:rule:");
        assert_eq!(keys.stream, "api[1]*:revocations");
    }
}
