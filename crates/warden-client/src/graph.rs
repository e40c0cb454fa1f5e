//! [`GraphGroups`]: a warden group resolver on Microsoft Graph, for users in more groups than a
//! token can list (overage).

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use warden::Principal;
use warden::authz::{GroupLookupFailed, GroupResolver};
use warden::keys::BoxFuture;

use crate::claims::claims_challenge;
use crate::client::TokenClient;
use crate::error::retry_after;

/// Microsoft Graph v1.0.
pub const GRAPH: &str = "https://graph.microsoft.com/v1.0";

/// How long one resolution may take, retries included, by default.
pub const DEFAULT_GRAPH_TIMEOUT: Duration = Duration::from_secs(5);

/// Resolves a user's groups on Microsoft Graph when Entra replaced the `groups` claim with an
/// overage marker: `POST /users/{oid}/getMemberObjects` (security groups, transitive), following
/// `@odata.nextLink`. Give it to the layer with `WardenBuilder::group_resolver`, which caches
/// each caller's answer for the TTL you choose.
///
/// It calls Graph as the API itself, with an app token for `https://graph.microsoft.com/.default`
/// from its [`TokenClient`]: grant the API the application permission `GroupMember.Read.All`
/// (admin consent). An on-behalf-of token would need the caller's token, which the layer does not
/// keep.
///
/// A 429 or 503 is retried once after its `Retry-After` when that fits in the timeout
/// (default [`DEFAULT_GRAPH_TIMEOUT`]). Graph's CAE claims challenge (`401`,
/// `insufficient_claims`: it revoked the API's tokens) gets a new app token carrying the claims
/// and the request once more, as [`TokenClient::call_as_app`] does; with an `azure_core`
/// credential, which cannot request claims, the lookup fails. On any other failure the lookup
/// fails and the group requirement answers 503 (never "not a member").
#[derive(Debug, Clone)]
pub struct GraphGroups {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    tokens: AppTokens,
    graph: String,
    timeout: Duration,
    http: reqwest::Client,
}

/// Where Graph's app tokens come from.
#[derive(Debug, Clone)]
enum AppTokens {
    Client(TokenClient),
    #[cfg(feature = "azure")]
    Credential(Arc<dyn azure_core::credentials::TokenCredential>),
}

impl AppTokens {
    /// A token for Graph, as the API itself; with the claims of Graph's claims challenge, a new
    /// one carrying them.
    async fn graph_token(&self, challenge: Option<&Value>) -> Result<String, &'static str> {
        const SCOPE: &str = "https://graph.microsoft.com/.default";
        match self {
            AppTokens::Client(client) => client
                .app_token(&[SCOPE], challenge)
                .await
                .map(|token| token.secret().to_owned())
                .map_err(|error| {
                    tracing::warn!(%error, "no app token for Graph");
                    "no app token for Graph"
                }),
            // azure_core's token request has no claims to send.
            #[cfg(feature = "azure")]
            AppTokens::Credential(_) if challenge.is_some() => {
                Err("Graph asked for claims an azure_core credential cannot request")
            }
            #[cfg(feature = "azure")]
            AppTokens::Credential(credential) => credential
                .get_token(&[SCOPE], None)
                .await
                .map(|token| token.token.secret().to_owned())
                .map_err(|error| {
                    let reason: String = error
                        .to_string()
                        .chars()
                        .map(|c| if c.is_control() { ' ' } else { c })
                        .take(300)
                        .collect();
                    tracing::warn!(reason, "the credential gave no token for Graph");
                    "the credential gave no token for Graph"
                }),
        }
    }
}

impl GraphGroups {
    /// Groups from Microsoft Graph, with app tokens from `tokens`.
    pub fn new(tokens: TokenClient) -> Self {
        GraphGroups::with_graph(tokens, GRAPH)
    }

    /// Groups from the Graph at `graph` (a national cloud's, or a test's), with app tokens
    /// from `tokens`.
    pub fn with_graph(tokens: TokenClient, graph: impl Into<String>) -> Self {
        GraphGroups::from_source(AppTokens::Client(tokens), graph.into())
    }

    /// Groups from the Graph at `graph` ([`GRAPH`], a national cloud's, or a test's), with app
    /// tokens from any `azure_core` credential: a managed identity granted
    /// `GroupMember.Read.All` needs no app registration of its own, and its system-assigned
    /// identity will do.
    ///
    /// ```no_run
    /// # fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// use warden_client::{GRAPH, GraphGroups};
    ///
    /// let identity = azure_identity::ManagedIdentityCredential::new(None)?;
    /// let groups = GraphGroups::with_token_credential(identity, GRAPH);
    /// # let _ = groups;
    /// # Ok(()) }
    /// ```
    #[cfg(feature = "azure")]
    pub fn with_token_credential(
        credential: Arc<dyn azure_core::credentials::TokenCredential>,
        graph: impl Into<String>,
    ) -> Self {
        GraphGroups::from_source(AppTokens::Credential(credential), graph.into())
    }

    fn from_source(tokens: AppTokens, graph: String) -> Self {
        GraphGroups {
            inner: Arc::new(Inner {
                tokens,
                graph: graph.trim_end_matches('/').to_owned(),
                timeout: DEFAULT_GRAPH_TIMEOUT,
                http: reqwest::Client::new(),
            }),
        }
    }

    /// How long one resolution may take, retries included.
    #[must_use]
    pub fn timeout(self, timeout: Duration) -> Self {
        let inner = Arc::unwrap_or_clone(self.inner);
        GraphGroups {
            inner: Arc::new(Inner { timeout, ..inner }),
        }
    }
}

impl Clone for Inner {
    fn clone(&self) -> Self {
        Inner {
            tokens: self.tokens.clone(),
            graph: self.graph.clone(),
            timeout: self.timeout,
            http: self.http.clone(),
        }
    }
}

impl GroupResolver for GraphGroups {
    fn groups(&self, principal: &Principal) -> BoxFuture<Result<Vec<String>, GroupLookupFailed>> {
        let inner = self.inner.clone();
        let user = principal.object_id().map(str::to_owned);
        Box::pin(async move {
            let Some(user) = user else {
                tracing::warn!("group overage for a caller with no object id: not resolved");
                return Err(GroupLookupFailed);
            };
            match tokio::time::timeout(inner.timeout, inner.member_objects(&user)).await {
                Ok(Ok(groups)) => Ok(groups),
                Ok(Err(reason)) => {
                    tracing::warn!(reason, "Microsoft Graph group lookup failed");
                    Err(GroupLookupFailed)
                }
                Err(_) => {
                    tracing::warn!("Microsoft Graph group lookup timed out");
                    Err(GroupLookupFailed)
                }
            }
        })
    }
}

impl Inner {
    async fn member_objects(&self, user: &str) -> Result<Vec<String>, &'static str> {
        let mut token = self.tokens.graph_token(None).await?;
        let mut groups = Vec::new();
        // The user id goes into a path: a GUID (Entra's oid), nothing else.
        if !user.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-') {
            return Err("the caller's object id is not a GUID");
        }
        let mut next = Some(format!("{}/users/{user}/getMemberObjects", self.graph));
        let mut first = true;
        let mut retried = false;
        let mut challenged = false;
        while let Some(url) = next.take() {
            let request = if first {
                self.http
                    .post(&url)
                    .json(&json!({"securityEnabledOnly": true}))
            } else {
                self.http.get(&url)
            };
            let response = request
                .bearer_auth(&token)
                .send()
                .await
                .map_err(|_| "Graph did not answer")?;
            if !challenged && let Some(claims) = claims_challenge(&response) {
                // Once: a new token answering Graph's claims challenge, then the same page.
                challenged = true;
                token = self.tokens.graph_token(Some(&claims)).await?;
                next = Some(url);
                continue;
            }
            let status = response.status().as_u16();
            if matches!(status, 429 | 503) && !retried {
                // Once, after Graph's Retry-After, within the timeout.
                // Seconds or an HTTP date; a second when Graph did not say.
                let wait = retry_after(response.headers(), std::time::SystemTime::now())
                    .unwrap_or(Duration::from_secs(1));
                retried = true;
                tokio::time::sleep(wait.min(self.timeout)).await;
                next = Some(url);
                continue;
            }
            if status != 200 {
                return Err("Graph refused the lookup");
            }
            let page: Value = response
                .json()
                .await
                .map_err(|_| "Graph's answer is not JSON")?;
            let values = page
                .get("value")
                .and_then(Value::as_array)
                .ok_or("Graph's answer has no value list")?;
            groups.extend(values.iter().filter_map(Value::as_str).map(str::to_owned));
            next = page
                .get("@odata.nextLink")
                .and_then(Value::as_str)
                .filter(|link| link.starts_with(&self.graph))
                .map(str::to_owned);
            first = false;
        }
        Ok(groups)
    }
}
