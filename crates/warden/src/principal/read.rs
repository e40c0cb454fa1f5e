//! Reading the claims once into the spans a [`Principal`](super::Principal) points at: the
//! scopes, roles, groups and identifiers, and the `cnf` confirmation.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;

use super::identity::{Caller, CallerClaims, Claim, IdentityRules};
use crate::error::{BindingError, Error, InvalidToken};
use crate::json::Members;

/// A piece of text: a range of the claims JSON, or (for JSON strings that held escapes) of the
/// spill buffer. `NONE` when absent.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) struct Span {
    pub(super) start: u32,
    pub(super) len: u32,
}

impl Span {
    pub(super) const NONE: Span = Span {
        start: u32::MAX,
        len: 0,
    };
    pub(super) const SPILL: u32 = 1 << 31;
}

/// The text of a span: in the claims text, or (for strings that held escapes) in the spill
/// buffer. `None` for an absent claim.
pub(super) fn span_text<'a>(json: &'a str, spill: &'a str, span: Span) -> Option<&'a str> {
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

/// A JSON string borrowed from the text when it holds no escape (serde borrows only a bare
/// `Cow<str>` field, not one inside `Option` or `Vec`).
#[derive(Deserialize)]
struct Str<'a>(#[serde(borrow)] Cow<'a, str>);

/// The claims warden reads, borrowed from the JSON text where no escape forced a copy.
#[derive(Default)]
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
    email: Option<&'a RawValue>,
    email_verified: Option<Lenient>,
    xms_edov: Option<Lenient>,
}

impl<'a> Read<'a> {
    /// The claims warden reads, each decoded from its member of the one strict parse of the
    /// claims (no second parse of the whole document), in one pass over the members. A claim of
    /// the wrong JSON type is refused by name (the first in the document, when several are).
    fn from_members(claims: &Members<'a>) -> Result<Self, Error> {
        fn field<'a, T: Deserialize<'a>>(
            raw: &'a RawValue,
            name: &'static str,
        ) -> Result<Option<T>, Error> {
            serde_json::from_str::<Option<T>>(raw.get()).map_err(|_| invalid(name))
        }
        // A claim that is a plain string (most are) is borrowed without running a decoder.
        fn text<'a>(raw: &'a RawValue, name: &'static str) -> Result<Option<Str<'a>>, Error> {
            match crate::json::plain_string(raw.get()) {
                Some(plain) => Ok(Some(Str(Cow::Borrowed(plain)))),
                None => field(raw, name),
            }
        }
        let mut read = Read::default();
        for (name, raw) in claims.iter() {
            match name {
                "iss" => read.iss = text(raw, "iss")?,
                "sub" => read.sub = text(raw, "sub")?,
                "tid" => read.tid = text(raw, "tid")?,
                "oid" => read.oid = text(raw, "oid")?,
                "client_id" => read.client_id = text(raw, "client_id")?,
                "azp" => read.azp = text(raw, "azp")?,
                "appid" => read.appid = text(raw, "appid")?,
                "jti" => read.jti = text(raw, "jti")?,
                "uti" => read.uti = text(raw, "uti")?,
                "sid" => read.sid = text(raw, "sid")?,
                "acr" => read.acr = text(raw, "acr")?,
                "idtyp" => read.idtyp = text(raw, "idtyp")?,
                "scope" => read.scope = List::read(raw, "scope")?,
                "scp" => read.scp = List::read(raw, "scp")?,
                "roles" => read.roles = List::read(raw, "roles")?,
                "groups" => read.groups = List::read(raw, "groups")?,
                "acrs" => read.acrs = field(raw, "acrs")?,
                "xms_cc" => read.xms_cc = field(raw, "xms_cc")?,
                "iat" => read.iat = field(raw, "iat")?,
                "auth_time" => read.auth_time = field(raw, "auth_time")?,
                "hasgroups" => read.hasgroups = field(raw, "hasgroups")?,
                "_claim_names" => read.claim_names = field(raw, "_claim_names")?,
                "email" => read.email = Some(raw),
                "email_verified" => read.email_verified = field(raw, "email_verified")?,
                "xms_edov" => read.xms_edov = field(raw, "xms_edov")?,
                _ => {}
            }
        }
        Ok(read)
    }
}

fn invalid(claim: &'static str) -> Error {
    Error::InvalidToken(InvalidToken::InvalidClaim { claim })
}

/// A string or an array of strings. Only scopes split a string on spaces (RFC 8693 §4.2);
/// roles and groups are arrays (RFC 9068 §2.2.3.1, SCIM), and a single string is one name.
enum List<'a> {
    Text(Str<'a>),
    Items(Vec<Str<'a>>),
}

impl<'a> List<'a> {
    /// The list in `raw`, told apart by its first character (serde's untagged enums buffer the
    /// whole value to try each variant): `None` for `null`, the claim refused for anything but
    /// a string or an array of strings.
    fn read(raw: &'a RawValue, name: &'static str) -> Result<Option<Self>, Error> {
        let text = raw.get();
        let list = match text.as_bytes().first() {
            Some(b'"') => match crate::json::plain_string(text) {
                Some(plain) => Ok(List::Text(Str(Cow::Borrowed(plain)))),
                None => serde_json::from_str(text).map(List::Text),
            },
            Some(b'[') => serde_json::from_str(text).map(List::Items),
            _ => {
                return serde_json::from_str::<()>(text)
                    .map(|()| None)
                    .map_err(|_| invalid(name));
            }
        };
        list.map(Some).map_err(|_| invalid(name))
    }
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
    pub(super) spill: Box<str>,
    pub(super) issuer: Span,
    pub(super) subject: Span,
    pub(super) tenant: Span,
    pub(super) object_id: Span,
    pub(super) client_id: Span,
    pub(super) azp: Span,
    pub(super) appid: Span,
    pub(super) jti: Span,
    pub(super) uti: Span,
    pub(super) session: Span,
    pub(super) acr: Span,
    /// `email`, lowercased, only when the token says its issuer verified it.
    pub(super) verified_email: Span,
    pub(super) scopes: Box<[Span]>,
    pub(super) roles: Box<[Span]>,
    pub(super) groups: Box<[Span]>,
    pub(super) acrs: Box<[Span]>,
    pub(super) issued_at: Option<f64>,
    pub(super) auth_time: Option<f64>,
    pub(super) caller: Caller,
    pub(super) rules: &'static IdentityRules,
    pub(super) cae_capable: bool,
    pub(super) group_overage: bool,
    /// What the token is bound to (`cnf`), checked against the request by the layer.
    pub(super) confirmation: Option<Confirmation>,
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
    /// [`InvalidToken::InvalidClaim`](crate::error::InvalidToken::InvalidClaim) naming a claim of the wrong JSON type.
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
