//! Where the store's Redis is, one server or a cluster, and the connections to it. A leaf: the
//! store, its feed and the DPoP replay cache speak to Redis through [`Connection`] alone, so
//! nothing else depends on which deployment it is.

use std::time::Duration;

use redis::aio::{
    ConnectionLike, ConnectionManager, ConnectionManagerConfig, MultiplexedConnection,
};
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{Route, RoutingInfo, SingleNodeRoutingInfo, Slot, SlotAddr};
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
        let mut builder = ClusterClient::builder(seeds.iter().map(String::as_str))
            .connection_timeout(timeout)
            .response_timeout(timeout);
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
    /// `INFO memory` of the server, or of every primary of a cluster, as text.
    pub(crate) async fn memory_info(&mut self) -> RedisResult<Vec<String>> {
        let reply: Value = redis::cmd("INFO").arg("memory").query_async(self).await?;
        Ok(texts(&reply))
    }

    /// `WAIT replicas timeout` on the node that holds `key` (the one this connection just
    /// wrote it to: `WAIT` counts the replicas holding this connection's writes there).
    pub(crate) async fn wait_for_replicas(
        &mut self,
        key: &str,
        replicas: usize,
        timeout_ms: u64,
    ) -> RedisResult<usize> {
        let mut wait = redis::cmd("WAIT");
        wait.arg(replicas).arg(timeout_ms);
        match self {
            Connection::Cluster(conn) => {
                let primary = Route::with_slot(Slot::for_key(key), SlotAddr::Master);
                let reply = conn
                    .route_command(
                        wait,
                        RoutingInfo::SingleNode(SingleNodeRoutingInfo::SpecificNode(primary)),
                    )
                    .await?;
                Ok(redis::from_redis_value(reply)?)
            }
            Connection::Server(_) | Connection::Managed(_) => wait.query_async(self).await,
        }
    }
}

/// The text of a reply, or of each node's reply when a cluster answered from several.
fn texts(reply: &Value) -> Vec<String> {
    match reply {
        Value::BulkString(bytes) => vec![String::from_utf8_lossy(bytes).into_owned()],
        Value::SimpleString(text) | Value::VerbatimString { text, .. } => vec![text.clone()],
        Value::Map(nodes) => nodes.iter().flat_map(|(_, reply)| texts(reply)).collect(),
        Value::Array(items) => items.iter().flat_map(texts).collect(),
        _ => Vec::new(),
    }
}
