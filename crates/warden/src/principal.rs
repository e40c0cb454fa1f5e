//! The validated caller.

use std::borrow::Cow;
use std::fmt;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize, Serializer};
use serde_json::{Map, Value};

use crate::error::{BindingError, Error, InvalidToken};
use crate::identity::{Caller, CallerClaims, Claim, IdentityRules};
use crate::json::Members;

/// Who a caller is, as a key for what they own: see [`Principal::identity`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Identity<'a> {
    /// The issuer (`iss`), or the tenant (`tid`) for Microsoft Entra.
    pub namespace: &'a str,
    /// `sub`, or `oid` for Microsoft Entra: [`Principal::user_id`].
    pub user_id: &'a str,
}

/// Every identifier claim of a token, whatever the profile: what a revocation rule can name, and
/// what a client allow-list must admit.
pub(crate) struct IdentifierClaims<'a> {
    /// `sub` and `oid`.
    pub(crate) users: [Option<&'a str>; 2],
    /// `sid`.
    pub(crate) session: Option<&'a str>,
    /// `jti` and `uti`.
    pub(crate) tokens: [Option<&'a str>; 2],
    /// `client_id`, `azp` and `appid`.
    pub(crate) clients: [Option<&'a str>; 3],
    /// `tid`, as the token carries it.
    pub(crate) tenant: Option<&'a str>,
    /// `email`, lowercased, when the token says it was verified.
    pub(crate) verified_email: Option<&'a str>,
}

/// The caller of a request whose bearer token warden validated.
///
/// Only warden makes one, after the signature verified and every claim check passed: holding a
/// `Principal` is proof of validation. It is cheap to clone (one `Arc`), and the layer stores it in
/// the request extensions, where extractors read it without taking it out.
///
/// It keeps the claims' JSON text once and points into it for the identifiers, scopes and roles,
/// so it costs little more memory than the token's payload; [`claims`](Self::claims) parses the
/// whole object on first use.
///
/// Identity follows RFC 8725 §3.8: a subject is only meaningful together with its issuer; for
/// Entra tokens the stable pair is (`tid`, `oid`). Never authorize on `preferred_username`,
/// `name` or `email`.
#[derive(Clone)]
pub struct Principal {
    inner: Arc<Inner>,
}

/// A piece of text: a range of the claims JSON, or (for JSON strings that held escapes) of the
/// spill buffer. `NONE` when absent.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Span {
    start: u32,
    len: u32,
}

impl Span {
    const NONE: Span = Span {
        start: u32::MAX,
        len: 0,
    };
    const SPILL: u32 = 1 << 31;
}

struct Inner {
    json: Box<str>,
    parts: Parts,
    expires_at: f64,
    claims: OnceLock<Map<String, Value>>,
}

impl Inner {
    /// The span of an identifier claim.
    fn claim(&self, claim: Claim) -> Span {
        match claim {
            Claim::Iss => self.parts.issuer,
            Claim::Sub => self.parts.subject,
            Claim::Tid => self.parts.tenant,
            Claim::Oid => self.parts.object_id,
            Claim::ClientId => self.parts.client_id,
            Claim::Azp => self.parts.azp,
            Claim::Appid => self.parts.appid,
            Claim::Jti => self.parts.jti,
            Claim::Uti => self.parts.uti,
        }
    }

    fn text(&self, span: Span) -> Option<&str> {
        span_text(&self.json, &self.parts.spill, span)
    }
}

/// Names held by the principal (scopes, roles, groups, authentication contexts), in token order.
#[derive(Clone)]
pub struct Names<'a> {
    inner: &'a Inner,
    spans: std::slice::Iter<'a, Span>,
}

impl<'a> Iterator for Names<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let span = *self.spans.next()?;
        Some(self.inner.text(span).unwrap_or_default())
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.spans.size_hint()
    }
}

impl ExactSizeIterator for Names<'_> {}

impl fmt::Debug for Names<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.clone()).finish()
    }
}

impl Serialize for Names<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.clone())
    }
}

impl fmt::Debug for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Principal")
            .field("issuer", &self.issuer())
            .field("subject", &self.subject())
            .field("tenant_id", &self.tenant_id())
            .field("client_id", &self.client_id())
            .field("scopes", &self.scopes())
            .field("roles", &self.roles())
            .field("caller", &self.caller())
            .finish_non_exhaustive()
    }
}

/// A JSON string borrowed from the text when it holds no escape (serde borrows only a bare
/// `Cow<str>` field, not one inside `Option` or `Vec`).
#[derive(Deserialize)]
struct Str<'a>(#[serde(borrow)] Cow<'a, str>);

/// The claims warden reads, borrowed from the JSON text where no escape forced a copy.
struct Read<'a> {
    iss: Option<Str<'a>>,
    sub: Option<Str<'a>>,
    tid: Option<Str<'a>>,
    oid: Option<Str<'a>>,
    client_id: Option<Str<'a>>,
    azp: Option<Str<'a>>,
    appid: Option<Str<'a>>,
    jti: Option<Str<'a>>,
    uti: Option<Str<'a>>,
    sid: Option<Str<'a>>,
    acr: Option<Str<'a>>,
    idtyp: Option<Str<'a>>,
    scope: Option<List<'a>>,
    scp: Option<List<'a>>,
    roles: Option<List<'a>>,
    groups: Option<List<'a>>,
    acrs: Option<Lenient>,
    xms_cc: Option<Lenient>,
    iat: Option<Lenient>,
    auth_time: Option<Lenient>,
    hasgroups: Option<Lenient>,
    claim_names: Option<Lenient>,
    /// Read only when the token says it is verified.
    email: Option<&'a serde_json::value::RawValue>,
    email_verified: Option<Lenient>,
    xms_edov: Option<Lenient>,
}

impl<'a> Read<'a> {
    /// The claims warden reads, each decoded from its member of the one strict parse of the
    /// claims (no second parse of the whole document). A claim of the wrong JSON type is refused
    /// by name.
    fn from_members(claims: &Members<'a>) -> Result<Self, Error> {
        fn field<'a, T: Deserialize<'a>>(
            claims: &Members<'a>,
            name: &'static str,
        ) -> Result<Option<T>, Error> {
            match claims.raw(name) {
                None => Ok(None),
                Some(raw) => serde_json::from_str::<Option<T>>(raw.get())
                    .map_err(|_| Error::InvalidToken(InvalidToken::InvalidClaim { claim: name })),
            }
        }
        Ok(Read {
            iss: field(claims, "iss")?,
            sub: field(claims, "sub")?,
            tid: field(claims, "tid")?,
            oid: field(claims, "oid")?,
            client_id: field(claims, "client_id")?,
            azp: field(claims, "azp")?,
            appid: field(claims, "appid")?,
            jti: field(claims, "jti")?,
            uti: field(claims, "uti")?,
            sid: field(claims, "sid")?,
            acr: field(claims, "acr")?,
            idtyp: field(claims, "idtyp")?,
            scope: field(claims, "scope")?,
            scp: field(claims, "scp")?,
            roles: field(claims, "roles")?,
            groups: field(claims, "groups")?,
            acrs: field(claims, "acrs")?,
            xms_cc: field(claims, "xms_cc")?,
            iat: field(claims, "iat")?,
            auth_time: field(claims, "auth_time")?,
            hasgroups: field(claims, "hasgroups")?,
            claim_names: field(claims, "_claim_names")?,
            email: claims.raw("email"),
            email_verified: field(claims, "email_verified")?,
            xms_edov: field(claims, "xms_edov")?,
        })
    }
}

/// A string or an array of strings. Only scopes split a string on spaces (RFC 8693 §4.2);
/// roles and groups are arrays (RFC 9068 §2.2.3.1, SCIM), and a single string is one name.
#[derive(Deserialize)]
#[serde(untagged)]
enum List<'a> {
    #[serde(borrow)]
    Text(Str<'a>),
    #[serde(borrow)]
    Items(Vec<Str<'a>>),
}

/// Any JSON value, kept only for the claims whose odd types must not refuse a token.
#[derive(Deserialize)]
#[serde(transparent)]
struct Lenient(Value);

/// Builds spans into the JSON text (or copies into the spill buffer).
struct Spans<'j> {
    json: &'j str,
    spill: String,
}

impl Spans<'_> {
    /// A span for `text`: its place in the JSON text when it is a slice of it, else a copy in
    /// the spill buffer.
    fn span(&mut self, text: &str) -> Span {
        let base = self.json.as_ptr() as usize;
        let at = text.as_ptr() as usize;
        if at >= base && at + text.len() <= base + self.json.len() {
            return Span {
                start: (at - base) as u32,
                len: text.len() as u32,
            };
        }
        let start = self.spill.len() as u32 | Span::SPILL;
        self.spill.push_str(text);
        Span {
            start,
            len: text.len() as u32,
        }
    }

    fn optional(&mut self, text: &Option<Str<'_>>) -> Span {
        text.as_ref().map_or(Span::NONE, |t| self.span(&t.0))
    }

    /// The names of a list claim. A string is split on spaces only for `scope` and `scp`
    /// (`Split::Scopes`); for roles and groups it is one name, so a role named with a space can
    /// never grant another role.
    fn list(&mut self, list: &Option<List<'_>>, split: Split, out: &mut Vec<Span>) {
        match list {
            None => {}
            Some(List::Items(items)) => {
                for item in items.iter().filter(|item| !item.0.is_empty()) {
                    let span = self.span(&item.0);
                    out.push(span);
                }
            }
            Some(List::Text(Str(text))) if split == Split::Scopes => {
                for word in text.split(' ').filter(|w| !w.is_empty()) {
                    let span = self.span(word);
                    out.push(span);
                }
            }
            Some(List::Text(Str(text))) if !text.is_empty() => {
                let span = self.span(text);
                out.push(span);
            }
            Some(List::Text(_)) => {}
        }
    }
}

/// How a list claim given as one string is read.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Split {
    /// Space-delimited (RFC 8693 §4.2): `scope`, `scp`.
    Scopes,
    /// One name: `roles`, `groups`.
    Never,
}

fn number(value: &Option<Lenient>) -> Option<f64> {
    value.as_ref().and_then(|v| v.0.as_f64())
}

/// What the principal reads from the claims, as spans into the claims text: read from the one
/// strict parse of the claims before the signature is checked (reading rejects only), kept across
/// a key fetch, and turned into a [`Principal`] only once the signature verified.
pub(crate) struct Parts {
    spill: Box<str>,
    issuer: Span,
    subject: Span,
    tenant: Span,
    object_id: Span,
    client_id: Span,
    azp: Span,
    appid: Span,
    jti: Span,
    uti: Span,
    session: Span,
    acr: Span,
    /// `email`, lowercased, only when the token says its issuer verified it.
    verified_email: Span,
    scopes: Box<[Span]>,
    roles: Box<[Span]>,
    groups: Box<[Span]>,
    acrs: Box<[Span]>,
    issued_at: Option<f64>,
    auth_time: Option<f64>,
    caller: Caller,
    rules: &'static IdentityRules,
    cae_capable: bool,
    group_overage: bool,
    /// What the token is bound to (`cnf`), checked against the request by the layer.
    confirmation: Option<Confirmation>,
}

/// A token's confirmation (RFC 7800 `cnf`): the key or certificate it is bound to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Confirmation {
    /// `cnf.jkt`: the RFC 7638 thumbprint of the client's DPoP key.
    DpopKey(Box<str>),
    /// `cnf.x5t#S256`: the SHA-256 thumbprint of the client's certificate.
    Certificate(Box<str>),
}

impl Confirmation {
    /// `cnf`'s binding, read strictly: a `cnf` that is not an object, or whose binding member is
    /// not a string, is an invalid claim; a method warden cannot verify is refused.
    pub(crate) fn read(claims: &Members<'_>) -> Result<Option<Confirmation>, Error> {
        let Some(raw) = claims.raw("cnf") else {
            return Ok(None);
        };
        let invalid = Error::InvalidToken(InvalidToken::InvalidClaim { claim: "cnf" });
        let cnf = crate::json::parse_members(raw.get()).map_err(|_| invalid.clone())?;
        let text = |name: &str| match cnf.string(name) {
            Some(Some(value)) if !value.is_empty() => Ok(value.into_owned().into_boxed_str()),
            _ => Err(invalid.clone()),
        };
        if cnf.contains("jkt") && cnf.contains("x5t#S256") {
            // Two bindings: checking one would drop the other silently.
            Err(BindingError::Unverified(crate::error::Binding::Other).into())
        } else if cnf.contains("jkt") {
            Ok(Some(Confirmation::DpopKey(text("jkt")?)))
        } else if cnf.contains("x5t#S256") {
            Ok(Some(Confirmation::Certificate(text("x5t#S256")?)))
        } else if cnf.is_empty() {
            Ok(None)
        } else {
            Err(BindingError::Unverified(crate::error::Binding::Other).into())
        }
    }

    /// The kind of binding, as refusals name it.
    pub(crate) fn kind(&self) -> crate::error::Binding {
        match self {
            Confirmation::DpopKey(_) => crate::error::Binding::DpopKey,
            Confirmation::Certificate(_) => crate::error::Binding::Certificate,
        }
    }
}

impl Parts {
    /// Reads the claims warden uses from `claims`, the strict parse of `json`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidToken(InvalidToken::InvalidClaim)`] naming a claim of the wrong JSON type.
    pub(crate) fn read(
        json: &str,
        claims: &Members<'_>,
        rules: &'static IdentityRules,
        confirmation: Option<Confirmation>,
    ) -> Result<Parts, Error> {
        let read = Read::from_members(claims)?;
        let mut spans = Spans {
            json,
            spill: String::new(),
        };
        let mut scopes = Vec::new();
        spans.list(&read.scope, Split::Scopes, &mut scopes);
        let mut scp = Vec::new();
        spans.list(&read.scp, Split::Scopes, &mut scp);
        let mut roles = Vec::new();
        spans.list(&read.roles, Split::Never, &mut roles);
        let mut groups = Vec::new();
        spans.list(&read.groups, Split::Never, &mut groups);
        let acrs_list: Vec<Cow<'_, str>> = match &read.acrs {
            Some(Lenient(Value::Array(items))) => items
                .iter()
                .filter_map(|v| v.as_str().map(|s| Cow::Owned(s.to_owned())))
                .collect(),
            _ => Vec::new(),
        };
        let acrs: Vec<Span> = acrs_list.iter().map(|a| spans.span(a)).collect();

        let client = |claim| match claim {
            Claim::ClientId => read.client_id.as_ref(),
            Claim::Azp => read.azp.as_ref(),
            Claim::Appid => read.appid.as_ref(),
            _ => None,
        };
        let caller = (rules.caller)(&CallerClaims {
            idtyp: read.idtyp.as_ref().map(|s| &*s.0),
            has_scp: read.scp.is_some(),
            sub: read.sub.as_ref().map(|s| &*s.0),
            client: client(rules.clients[0])
                .or_else(|| client(rules.clients[1]))
                .map(|s| &*s.0),
        });
        let is_cp1 = |v: &Value| v.as_str().is_some_and(|s| s.eq_ignore_ascii_case("cp1"));
        let cae_capable = match read.xms_cc.as_ref().map(|l| &l.0) {
            Some(Value::Array(values)) => values.iter().any(is_cp1),
            Some(value) => is_cp1(value),
            None => false,
        };
        let group_overage = read
            .claim_names
            .as_ref()
            .is_some_and(|names| names.0.get("groups").is_some())
            || (rules.hasgroups && matches!(read.hasgroups, Some(Lenient(Value::Bool(true)))));

        let issuer = spans.optional(&read.iss);
        let subject = spans.optional(&read.sub);
        let tenant = spans.optional(&read.tid);
        let object_id = spans.optional(&read.oid);
        let client_id = spans.optional(&read.client_id);
        let azp = spans.optional(&read.azp);
        let appid = spans.optional(&read.appid);
        let jti = spans.optional(&read.jti);
        let uti = spans.optional(&read.uti);
        let session = spans.optional(&read.sid);
        let acr = spans.optional(&read.acr);
        let verified_email = match verified_email(&read) {
            Some(email) => spans.span(&email),
            None => Span::NONE,
        };
        // `scope` first, then `scp` values not already present.
        for span in scp {
            let text = span_text(json, &spans.spill, span);
            if !scopes
                .iter()
                .any(|s| span_text(json, &spans.spill, *s) == text)
            {
                scopes.push(span);
            }
        }
        let issued_at = number(&read.iat);
        let auth_time = number(&read.auth_time);
        let spill = std::mem::take(&mut spans.spill).into_boxed_str();
        drop(read);
        Ok(Parts {
            spill,
            issuer,
            subject,
            tenant,
            object_id,
            client_id,
            azp,
            appid,
            jti,
            uti,
            session,
            acr,
            verified_email,
            scopes: scopes.into_boxed_slice(),
            roles: roles.into_boxed_slice(),
            groups: groups.into_boxed_slice(),
            acrs: acrs.into_boxed_slice(),
            issued_at,
            auth_time,
            caller,
            rules,
            cae_capable,
            group_overage,
            confirmation,
        })
    }
}

/// The token's `email`, lowercased, when the token says its issuer verified it: OpenID Connect's
/// `email_verified` is `true` (OIDC Core §5.1), or Microsoft Entra's `xms_edov` (the email
/// domain's owner is verified) is `true`. Otherwise `None`: an address nobody verified names
/// nobody.
fn verified_email<'a>(read: &Read<'a>) -> Option<Cow<'a, str>> {
    let is_true = |claim: &Option<Lenient>| match claim.as_ref().map(|c| &c.0) {
        Some(Value::Bool(value)) => *value,
        Some(Value::String(text)) => text == "true",
        _ => false,
    };
    if !(is_true(&read.email_verified) || is_true(&read.xms_edov)) {
        return None;
    }
    // Read only now, borrowed from the claims' text unless escaped or not lowercase.
    let raw: &'a str = read.email?.get();
    let email = match serde_json::from_str::<&'a str>(raw) {
        Ok(borrowed) => Cow::Borrowed(borrowed),
        Err(_) => Cow::Owned(serde_json::from_str::<String>(raw).ok()?),
    };
    if !email.contains('@') {
        return None;
    }
    Some(if email.chars().any(char::is_uppercase) {
        Cow::Owned(email.to_lowercase())
    } else {
        email
    })
}

impl Principal {
    /// Builds the principal from the verified claims' text and the parts read from it before
    /// the signature was checked ([`Parts::read`]).
    pub(crate) fn from_parts(json: String, parts: Parts, expires_at: f64) -> Self {
        Principal {
            inner: Arc::new(Inner {
                json: json.into_boxed_str(),
                parts,
                expires_at,
                claims: OnceLock::new(),
            }),
        }
    }

    /// A principal from claims text, for tests of the cache.
    #[cfg(test)]
    pub(crate) fn from_verified(
        payload: Vec<u8>,
        expires_at: f64,
        rules: &'static IdentityRules,
    ) -> Result<Self, Error> {
        let json = String::from_utf8(payload)
            .map_err(|_| Error::InvalidToken(InvalidToken::InvalidClaim { claim: "claims" }))?;
        let claims = crate::json::parse_members(&json)
            .map_err(|_| Error::InvalidToken(InvalidToken::InvalidClaim { claim: "claims" }))?;
        let parts = Parts::read(&json, &claims, rules, Confirmation::read(&claims)?)?;
        drop(claims);
        Ok(Self::from_parts(json, parts, expires_at))
    }

    fn text(&self, span: Span) -> Option<&str> {
        self.inner.text(span)
    }

    fn names<'a>(&'a self, spans: &'a [Span]) -> Names<'a> {
        Names {
            inner: &self.inner,
            spans: spans.iter(),
        }
    }

    /// The issuer (`iss`), exactly as configured.
    pub fn issuer(&self) -> &str {
        self.text(self.inner.parts.issuer).unwrap_or_default()
    }

    /// The subject (`sub`). Empty only for a profile that does not require `sub`.
    pub fn subject(&self) -> &str {
        self.text(self.inner.parts.subject).unwrap_or_default()
    }

    /// The tenant (`tid`) of a Microsoft Entra token, checked against its issuer's tenant.
    /// `None` for every other profile, whatever `tid` claim the token carries: a claim the
    /// profile does not name is not vouched for.
    pub fn tenant_id(&self) -> Option<&str> {
        let claim = self.inner.parts.rules.tenant?;
        self.text(self.inner.claim(claim))
    }

    /// The `oid` claim as the token carries it: in Microsoft Entra tokens, the stable id of the
    /// user or service principal in its tenant. For identity use [`user_id`](Self::user_id) or
    /// [`identity`](Self::identity), which follow the issuer's profile.
    pub fn object_id(&self) -> Option<&str> {
        self.text(self.inner.parts.object_id)
    }

    /// The caller's user (or service principal) id, by the issuer's profile: `oid` for Microsoft
    /// Entra (required there), `sub` for every other profile. A claim the profile does not name
    /// (an `oid` in a generic OpenID Connect token) never changes it.
    pub fn user_id(&self) -> &str {
        self.text(self.inner.claim(self.inner.parts.rules.user))
            .unwrap_or_default()
    }

    /// Who the caller is, as a key for data they own (RFC 8725 §3.8): the issuer and `sub`, or
    /// for Microsoft Entra the tenant and `oid` (the same user in v1 and v2 tokens). Key stored
    /// data by this pair, never by `sub` or `oid` alone.
    ///
    /// ```
    /// # fn check(alice: &warden::Principal, owner: warden::caller::Identity<'_>) -> bool {
    /// alice.identity() == owner
    /// # }
    /// ```
    pub fn identity(&self) -> Identity<'_> {
        Identity {
            namespace: self
                .text(self.inner.claim(self.inner.parts.rules.namespace))
                .unwrap_or_default(),
            user_id: self.user_id(),
        }
    }

    /// The client application, by the issuer's profile: `azp` (v2), else `appid` (v1), for
    /// Microsoft Entra; `client_id` (RFC 9068), else `azp` (OpenID Connect), for every other.
    pub fn client_id(&self) -> Option<&str> {
        let [first, second] = self.inner.parts.rules.clients;
        self.text(self.inner.claim(first))
            .or_else(|| self.text(self.inner.claim(second)))
    }

    /// The token id, by the issuer's profile: `uti` for Microsoft Entra, `jti` for every other.
    pub fn token_id(&self) -> Option<&str> {
        self.text(self.inner.claim(self.inner.parts.rules.token_id))
    }

    /// Every identifier a revocation rule can name, whatever the profile, so a rule catches
    /// every token of its user, session, token or client however the issuer spells it.
    pub(crate) fn identifier_claims(&self) -> IdentifierClaims<'_> {
        let inner = &*self.inner;
        IdentifierClaims {
            users: [
                self.text(inner.parts.subject),
                self.text(inner.parts.object_id),
            ],
            session: self.text(inner.parts.session),
            tokens: [self.text(inner.parts.jti), self.text(inner.parts.uti)],
            clients: [
                self.text(inner.parts.client_id),
                self.text(inner.parts.azp),
                self.text(inner.parts.appid),
            ],
            tenant: self.text(inner.parts.tenant),
            verified_email: self.text(inner.parts.verified_email),
        }
    }

    /// Whether the token names a client and every client claim it carries (`client_id`, `azp`,
    /// `appid`) is one of `allowed`: a fence that fails closed, so a second claim naming another
    /// client is not ignored.
    pub(crate) fn clients_all_in(&self, allowed: &[String]) -> bool {
        let mut clients = self.identifier_claims().clients.into_iter().flatten();
        let mut any = false;
        let all_allowed = clients.all(|client| {
            any = true;
            // Application ids are GUIDs (Entra): the same client in any case.
            allowed.iter().any(|a| crate::guid::same_id(a, client))
        });
        any && all_allowed
    }

    /// When the token was issued (`iat`), seconds since the Unix epoch.
    pub fn issued_at(&self) -> Option<f64> {
        self.inner.parts.issued_at
    }

    /// The sign-in session (`sid`).
    pub fn session_id(&self) -> Option<&str> {
        self.text(self.inner.parts.session)
    }

    /// Whether the client declared it can answer claims challenges: `xms_cc` (string or array)
    /// contains `cp1`, in any case.
    pub fn is_cae_capable(&self) -> bool {
        self.inner.parts.cae_capable
    }

    /// What the token is bound to (`cnf`), if anything: a DPoP key or a client certificate. A
    /// bound token reached the handler only with its proof checked.
    pub fn binding(&self) -> Option<crate::error::Binding> {
        self.inner
            .parts
            .confirmation
            .as_ref()
            .map(Confirmation::kind)
    }

    pub(crate) fn confirmation(&self) -> Option<&Confirmation> {
        self.inner.parts.confirmation.as_ref()
    }

    /// Satisfied Entra authentication contexts (`acrs`).
    pub fn auth_contexts(&self) -> Names<'_> {
        self.names(&self.inner.parts.acrs)
    }

    /// The authentication context class (`acr`, RFC 9470).
    pub fn acr(&self) -> Option<&str> {
        self.text(self.inner.parts.acr)
    }

    /// When the user last authenticated (`auth_time`), seconds since the Unix epoch.
    pub fn auth_time(&self) -> Option<f64> {
        self.inner.parts.auth_time
    }

    /// Delegated scopes: `scope` (RFC 9068) and `scp` (Entra), split on spaces. Case-sensitive.
    pub fn scopes(&self) -> Names<'_> {
        self.names(&self.inner.parts.scopes)
    }

    /// App roles (`roles`), case-sensitive. An array is the standard form (Entra, RFC 9068
    /// §2.2.3.1); a single string is one role, never split on spaces.
    pub fn roles(&self) -> Names<'_> {
        self.names(&self.inner.parts.roles)
    }

    /// Security group object ids (`groups`, an array; a single string is one group), empty when
    /// absent or replaced by an overage marker
    /// (see [`has_group_overage`](Self::has_group_overage)).
    pub fn groups(&self) -> Names<'_> {
        self.names(&self.inner.parts.groups)
    }

    /// Whether Entra replaced the `groups` list because the user is in too many groups
    /// (`_claim_names.groups`, or `hasgroups: true`). Membership is then unknown, not empty.
    pub fn has_group_overage(&self) -> bool {
        self.inner.parts.group_overage
    }

    /// Whether the caller is a user acting through a client application, or an application
    /// acting as itself.
    pub fn caller(&self) -> Caller {
        self.inner.parts.caller
    }

    /// Whether the token grants this exact scope.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes().any(|s| s == scope)
    }

    /// Whether the token carries this exact role.
    pub fn has_role(&self, role: &str) -> bool {
        self.roles().any(|r| r == role)
    }

    /// When the token expires.
    pub fn expires_at(&self) -> SystemTime {
        let secs = self.inner.expires_at.max(0.0);
        // `exp` passed the expiry check, so it is finite; clamp absurd values instead of panicking.
        let secs = if secs > 1e12 { 1e12 } else { secs };
        UNIX_EPOCH + Duration::from_secs_f64(secs)
    }

    pub(crate) fn expires_at_secs(&self) -> f64 {
        self.inner.expires_at
    }

    /// Every claim of the token, for custom claims (parsed on first use).
    pub fn claims(&self) -> &Map<String, Value> {
        self.inner
            .claims
            .get_or_init(|| serde_json::from_str(&self.inner.json).unwrap_or_default())
    }

    /// One claim, for custom claims.
    pub fn claim(&self, name: &str) -> Option<&Value> {
        self.claims().get(name)
    }

    /// Reads the claims into your own type.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidToken(InvalidToken::InvalidClaim)`] (with `claim: "claims"`) if the claims do not fit `T`. The serde
    /// message, which may quote claim values, is not kept.
    pub fn deserialize_claims<T: DeserializeOwned>(&self) -> Result<T, Error> {
        serde_json::from_str(&self.inner.json)
            .map_err(|_| Error::InvalidToken(InvalidToken::InvalidClaim { claim: "claims" }))
    }

    /// Bytes held for this principal (the claims text, the spill buffer and the spans), for the
    /// memory accounting of caches; the claims map built by [`claims`](Self::claims) on first
    /// use is not counted.
    pub fn heap_bytes(&self) -> usize {
        let inner = &*self.inner;
        2 * std::mem::size_of::<usize>() // the Arc counters
            + std::mem::size_of::<Inner>()
            + inner.json.len()
            + inner.parts.spill.len()
            + std::mem::size_of::<Span>()
                * (inner.parts.scopes.len() + inner.parts.roles.len() + inner.parts.groups.len() + inner.parts.acrs.len())
    }
}

/// The text of a span: in the claims text, or (for strings that held escapes) in the spill
/// buffer. `None` for an absent claim.
fn span_text<'a>(json: &'a str, spill: &'a str, span: Span) -> Option<&'a str> {
    if span == Span::NONE {
        return None;
    }
    let (buffer, start) = if span.start & Span::SPILL != 0 {
        (spill, span.start & !Span::SPILL)
    } else {
        (json, span.start)
    };
    let start = start as usize;
    buffer.get(start..start + span.len as usize)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Binding;
    use serde_json::{Value, json};

    fn read(v: Value) -> Result<Option<Confirmation>, Error> {
        let text = v.to_string();
        let members = crate::json::parse_members(&text).unwrap();
        Confirmation::read(&members)
    }

    #[test]
    fn only_bindings_warden_can_verify_pass_the_precheck() {
        assert_eq!(read(json!({})), Ok(None));
        assert_eq!(read(json!({"cnf": {}})), Ok(None));
        // Checked against the request's proof after the signature (the layer's binding check).
        assert_eq!(
            read(json!({"cnf": {"jkt": "0ZcOCORZNYy"}})),
            Ok(Some(Confirmation::DpopKey("0ZcOCORZNYy".into())))
        );
        assert_eq!(
            read(json!({"cnf": {"x5t#S256": "bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2"}})),
            Ok(Some(Confirmation::Certificate(
                "bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2".into()
            )))
        );
        for other in [
            json!({"jwk": {"kty": "EC"}}),
            json!({"kid": "k"}),
            json!({"jku": "https://x"}),
            json!({"future": true}),
            json!({"jkt": "a", "x5t#S256": "b"}),
        ] {
            assert_eq!(
                read(json!({ "cnf": other })),
                Err(Error::Binding(BindingError::Unverified(Binding::Other)))
            );
        }
        for bad in [
            json!("jkt"),
            json!(["jkt"]),
            json!(null),
            json!(1),
            json!({"jkt": 7}),
        ] {
            assert_eq!(
                read(json!({ "cnf": bad })),
                Err(Error::InvalidToken(InvalidToken::InvalidClaim {
                    claim: "cnf"
                }))
            );
        }
    }
}
