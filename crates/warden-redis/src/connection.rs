//! Where the store's Redis is, one server or a cluster, and the connections to it. A leaf: the
//! store, its feed and the DPoP replay cache speak to Redis through [`Connection`] alone, so
//! nothing else depends on which deployment it is.

use std::time::Duration;

use redis::aio::{
    ConnectionLike, ConnectionManager, ConnectionManagerConfig, MultiplexedConnection,
};
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{Route, SingleNodeRoutingInfo, Slot, SlotAddr};
use redis::{AsyncConnectionConfig, Cmd, RedisFuture, RedisResult, Value};

/// One Redis server (or a primary with replicas, reached through one address), or a Redis
/// Cluster reached through its seed nodes.
#[derive(Clone)]
pub(crate) enum Endpoint {
    Server(Box<redis::Client>),
    Cluster(Box<ClusterClient>),
}

/// TLS settings for `rediss://` URLs: private roots, a client identity.
pub(crate) struct Tls {
    pub(crate) roots: Option<Vec<u8>>,
    pub(crate) identity: Option<(Vec<u8>, Vec<u8>)>,
}

impl Tls {
    fn certificates(self) -> Option<redis::TlsCertificates> {
        if self.roots.is_none() && self.identity.is_none() {
            return None;
        }
        Some(redis::TlsCertificates {
            client_tls: self
                .identity
                .map(|(client_cert, client_key)| redis::ClientTlsConfig {
                    client_cert,
                    client_key,
                }),
            root_cert: self.roots,
        })
    }
}

impl Endpoint {
    /// A client for one server at `url`.
    pub(crate) fn server(url: &str, tls: Tls) -> RedisResult<Endpoint> {
        match tls.certificates() {
            Some(certificates) => redis::Client::build_with_tls(url, certificates),
            None => redis::Client::open(url),
        }
        .map(|client| Endpoint::Server(Box::new(client)))
    }

    /// A client for the cluster these seed nodes belong to (any of its nodes will do; the
    /// client learns the others and the slots from them).
    pub(crate) fn cluster(seeds: &[String], tls: Tls, timeout: Duration) -> RedisResult<Endpoint> {
        // Each connection sets its own response timeout (the feed's blocking read waits longer
        // than a write may): no overall one caps them all at the write timeout.
        let mut builder = ClusterClient::builder(seeds.iter().map(String::as_str))
            .connection_timeout(timeout)
            .response_timeout(timeout)
            .overall_response_timeout(None)
            // A node that died answers nothing: a request tries it twice more, not sixteen times
            // with growing waits (redis-rs's default), before failing.
            .retries(2)
            .max_retry_wait(1000);
        if let Some(certificates) = tls.certificates() {
            builder = builder.certs(certificates);
        }
        builder
            .build()
            .map(|client| Endpoint::Cluster(Box::new(client)))
    }

    /// A connection of the feed's own, since `XREAD BLOCK` holds it while it waits; its
    /// responses may take `response_timeout`.
    pub(crate) async fn dedicated(&self, response_timeout: Duration) -> RedisResult<Connection> {
        match self {
            Endpoint::Server(client) => {
                let config = AsyncConnectionConfig::new()
                    .set_connection_timeout(Some(Duration::from_secs(2)))
                    .set_response_timeout(Some(response_timeout));
                client
                    .get_multiplexed_async_connection_with_config(&config)
                    .await
                    .map(Connection::Server)
            }
            Endpoint::Cluster(client) => {
                let config = redis::cluster::ClusterConfig::new()
                    .set_connection_timeout(Duration::from_secs(2))
                    .set_response_timeout(response_timeout);
                client
                    .get_async_connection_with_config(config)
                    .await
                    .map(Connection::Cluster)
            }
        }
    }

    /// The shared connection that writes rules and checks DPoP proofs: it reconnects by
    /// itself, each call failing after `timeout`.
    pub(crate) async fn shared(
        &self,
        timeout: Duration,
        reconnect_ceiling: Duration,
    ) -> RedisResult<Connection> {
        match self {
            Endpoint::Server(client) => {
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(timeout))
                    .set_response_timeout(Some(timeout))
                    .set_number_of_retries(2)
                    .set_max_delay(reconnect_ceiling);
                ConnectionManager::new_with_config((**client).clone(), config)
                    .await
                    .map(Connection::Managed)
            }
            // A cluster connection already reconnects and follows the slots as they move.
            Endpoint::Cluster(client) => {
                let config = redis::cluster::ClusterConfig::new()
                    .set_connection_timeout(timeout)
                    .set_response_timeout(timeout);
                client
                    .get_async_connection_with_config(config)
                    .await
                    .map(Connection::Cluster)
            }
        }
    }
}

/// A connection to either kind of deployment; Redis commands are routed by their keys.
#[derive(Clone)]
pub(crate) enum Connection {
    Server(MultiplexedConnection),
    Managed(ConnectionManager),
    Cluster(ClusterConnection),
}

impl ConnectionLike for Connection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Connection::Server(conn) => conn.req_packed_command(cmd),
            Connection::Managed(conn) => conn.req_packed_command(cmd),
            Connection::Cluster(conn) => conn.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a redis::Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Connection::Server(conn) => conn.req_packed_commands(pipeline, offset, count),
            Connection::Managed(conn) => conn.req_packed_commands(pipeline, offset, count),
            Connection::Cluster(conn) => conn.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Connection::Server(conn) => conn.get_db(),
            Connection::Managed(conn) => conn.get_db(),
            Connection::Cluster(conn) => conn.get_db(),
        }
    }
}

impl Connection {
    /// `INFO memory` of the server, or of every primary of a cluster: the text of each
    /// answer, `None` for a node that answered with an error or not at all (a cluster leaves
    /// out a primary it has no connection to: counted from `CLUSTER NODES`).
    pub(crate) async fn memory_info(&mut self) -> RedisResult<Vec<Option<String>>> {
        let reply: Value = redis::cmd("INFO").arg("memory").query_async(self).await?;
        let mut answers = match reply {
            Value::Map(nodes) => nodes.into_iter().map(|(_, reply)| text(reply)).collect(),
            single => vec![text(single)],
        };
        if let Connection::Cluster(_) = self {
            let nodes: String = redis::cmd("CLUSTER").arg("NODES").query_async(self).await?;
            // Primaries that own slots: a failed one whose slots a replica took over owns none.
            let primaries = nodes
                .lines()
                .filter(|line| {
                    let fields: Vec<&str> = line.split(' ').collect();
                    fields.get(2).is_some_and(|flags| {
                        flags.split(',').any(|flag| flag == "master")
                            && !flags.split(',').any(|flag| flag == "fail")
                    }) && fields.len() > 8
                })
                .count();
            answers.resize(answers.len().max(primaries), None);
        }
        Ok(answers)
    }

    /// Runs the rule-writing `script` (its first key `key`) and, when `wait` names a number of
    /// replicas and a timeout in ms, `WAIT` right after it in one pipeline on the one connection
    /// to the node that holds `key`: `WAIT` counts the replicas holding this connection's
    /// writes, so it must follow the write on the same connection, never on one opened after a
    /// reconnect or a slot's move (where it would count nothing pending and answer at once).
    /// Returns how many replicas acknowledged, when asked.
    pub(crate) async fn write_rule(
        &mut self,
        key: &str,
        script: Cmd,
        wait: Option<(usize, u64)>,
    ) -> RedisResult<Option<usize>> {
        let Some((replicas, timeout_ms)) = wait else {
            let _: i64 = script.query_async(self).await?;
            return Ok(None);
        };
        let mut pipeline = redis::pipe();
        pipeline.add_command(script);
        pipeline.cmd("WAIT").arg(replicas).arg(timeout_ms);
        let replies = match self {
            Connection::Cluster(conn) => {
                let primary = Route::with_slot(Slot::for_key(key), SlotAddr::Master);
                conn.route_pipeline(pipeline, 0, 2, SingleNodeRoutingInfo::SpecificNode(primary))
                    .await?
            }
            Connection::Server(_) | Connection::Managed(_) => {
                self.req_packed_commands(&pipeline, 0, 2).await?
            }
        };
        match replies.as_slice() {
            [Value::ServerError(error), _] => Err(error.clone().into()),
            [_, count] => Ok(Some(redis::from_redis_value_ref(count)?)),
            _ => Err(redis::RedisError::from((
                redis::ErrorKind::Client,
                "the pipeline did not answer both commands",
            ))),
        }
    }
}

/// The text of one node's reply, `None` for anything else (an error, above all).
fn text(reply: Value) -> Option<String> {
    match reply {
        Value::BulkString(bytes) => String::from_utf8(bytes).ok(),
        Value::SimpleString(text) | Value::VerbatimString { text, .. } => Some(text),
        Value::Nil
        | Value::Int(_)
        | Value::Array(_)
        | Value::Okay
        | Value::Map(_)
        | Value::Attribute { .. }
        | Value::Set(_)
        | Value::Double(_)
        | Value::Boolean(_)
        | Value::BigNumber(_)
        | Value::Push { .. }
        | Value::ServerError(_) => None,
        // `Value` is non-exhaustive: a kind added later is not text either.
        _ => None,
    }
}
