//! Subject identifiers: RFC 9493's formats, SSF 1.0's additions (`jwt_id`, `saml_assertion_id`,
//! `ip-addresses`) and SSF's complex subjects. Parsed strictly: every member its format defines
//! and no other, required members never empty, aliases never nested.

use std::net::IpAddr;

use serde_json::{Map, Value};

use super::set::SetError;

/// Who or what a security event is about: a SET's `sub_id` (RFC 9493 §3; SSF 1.0 §3).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Subject {
    /// `account`: an `acct:` URI (RFC 7565).
    Account {
        /// The `acct:` URI.
        uri: String,
    },
    /// `email`: an email address, as the transmitter sent it.
    Email {
        /// The address.
        email: String,
    },
    /// `iss_sub`: a subject of an issuer, as its tokens name it.
    IssSub {
        /// The issuer (a token's `iss`).
        iss: String,
        /// The subject (a token's `sub`).
        sub: String,
    },
    /// `opaque`: an identifier only the transmitter and receiver understand (a stream id in
    /// verification events; an Entra object id under a complex subject).
    Opaque {
        /// The identifier.
        id: String,
    },
    /// `phone_number`: an E.164 telephone number.
    PhoneNumber {
        /// The number, `+` and digits.
        phone_number: String,
    },
    /// `did`: a decentralized identifier URL.
    Did {
        /// The DID URL.
        url: String,
    },
    /// `uri`: any URI.
    Uri {
        /// The URI.
        uri: String,
    },
    /// `aliases`: several identifiers of one subject.
    Aliases {
        /// The identifiers; none of them is itself `aliases`.
        identifiers: Vec<Subject>,
    },
    /// `jwt_id` (SSF §3.5.1): one JWT, by its issuer and `jti`.
    JwtId {
        /// The JWT's `iss`.
        iss: String,
        /// The JWT's `jti`.
        jti: String,
    },
    /// `saml_assertion_id` (SSF §3.5.2): one SAML assertion.
    SamlAssertionId {
        /// The assertion's issuer.
        issuer: String,
        /// The assertion's id.
        assertion_id: String,
    },
    /// `ip-addresses` (SSF §3.5.3): the addresses a subject was seen at.
    IpAddresses {
        /// The addresses.
        addresses: Vec<IpAddr>,
    },
    /// `complex` (SSF §3.3): one principal described by several simple subjects.
    Complex(Box<ComplexSubject>),
    /// A format this version does not know; its members are not read.
    Unrecognized {
        /// The `format`.
        format: String,
    },
}

/// The members of a complex subject (SSF 1.0 §3.3.1): each a simple subject, all describing one
/// principal.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ComplexSubject {
    /// `user`.
    pub user: Option<Subject>,
    /// `device`.
    pub device: Option<Subject>,
    /// `session`.
    pub session: Option<Subject>,
    /// `application`.
    pub application: Option<Subject>,
    /// `tenant`.
    pub tenant: Option<Subject>,
    /// `org_unit`.
    pub org_unit: Option<Subject>,
    /// `group`.
    pub group: Option<Subject>,
}

impl ComplexSubject {
    /// The members present, by name.
    pub fn members(&self) -> impl Iterator<Item = (&'static str, &Subject)> {
        [
            ("user", &self.user),
            ("device", &self.device),
            ("session", &self.session),
            ("application", &self.application),
            ("tenant", &self.tenant),
            ("org_unit", &self.org_unit),
            ("group", &self.group),
        ]
        .into_iter()
        .filter_map(|(name, member)| Some((name, member.as_ref()?)))
    }
}

/// How deep a subject may nest: `complex` holds simple subjects, `aliases` holds non-alias ones.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Nesting {
    TopLevel,
    InComplex,
    InAliases,
}

impl Subject {
    /// Parses a subject identifier object strictly.
    pub(crate) fn parse(value: &Value) -> Result<Subject, SetError> {
        Self::parse_at(value, Nesting::TopLevel)
    }

    fn parse_at(value: &Value, nesting: Nesting) -> Result<Subject, SetError> {
        let object = value
            .as_object()
            .ok_or(SetError::InvalidSubject("a subject is not a JSON object"))?;
        let format = match object.get("format") {
            Some(Value::String(format)) => format.as_str(),
            _ => return Err(SetError::InvalidSubject("a subject has no string `format`")),
        };
        let subject = match format {
            "account" => {
                only(object, &["uri"])?;
                let uri = required(object, "uri")?;
                if !uri.starts_with("acct:") {
                    return Err(SetError::InvalidSubject(
                        "an `account` subject's `uri` is not an acct: URI",
                    ));
                }
                Subject::Account { uri }
            }
            "email" => {
                only(object, &["email"])?;
                let email = required(object, "email")?;
                match email.rsplit_once('@') {
                    Some((local, domain)) if !local.is_empty() && !domain.is_empty() => {}
                    _ => {
                        return Err(SetError::InvalidSubject(
                            "an `email` subject's `email` is not an address",
                        ));
                    }
                }
                Subject::Email { email }
            }
            "iss_sub" => {
                only(object, &["iss", "sub"])?;
                Subject::IssSub {
                    iss: required(object, "iss")?,
                    sub: required(object, "sub")?,
                }
            }
            "opaque" => {
                only(object, &["id"])?;
                Subject::Opaque {
                    id: required(object, "id")?,
                }
            }
            "phone_number" => {
                only(object, &["phone_number"])?;
                let phone_number = required(object, "phone_number")?;
                let digits = phone_number.strip_prefix('+').unwrap_or("");
                if !(1..=15).contains(&digits.len()) || !digits.bytes().all(|b| b.is_ascii_digit())
                {
                    return Err(SetError::InvalidSubject(
                        "a `phone_number` subject is not an E.164 number",
                    ));
                }
                Subject::PhoneNumber { phone_number }
            }
            "did" => {
                only(object, &["url"])?;
                let url = required(object, "url")?;
                if !url.starts_with("did:") {
                    return Err(SetError::InvalidSubject(
                        "a `did` subject's `url` is not a DID",
                    ));
                }
                Subject::Did { url }
            }
            "uri" => {
                only(object, &["uri"])?;
                let uri = required(object, "uri")?;
                if !uri.contains(':') {
                    return Err(SetError::InvalidSubject(
                        "a `uri` subject's `uri` is not a URI",
                    ));
                }
                Subject::Uri { uri }
            }
            "aliases" => {
                if nesting == Nesting::InAliases {
                    return Err(SetError::InvalidSubject("`aliases` subjects are nested"));
                }
                only(object, &["identifiers"])?;
                let identifiers = match object.get("identifiers") {
                    Some(Value::Array(items)) if !items.is_empty() && items.len() <= MAX_LIST => {
                        items
                            .iter()
                            .map(|item| Self::parse_at(item, Nesting::InAliases))
                            .collect::<Result<Vec<_>, _>>()?
                    }
                    _ => {
                        return Err(SetError::InvalidSubject(
                            "an `aliases` subject has no `identifiers`, or more than 16",
                        ));
                    }
                };
                Subject::Aliases { identifiers }
            }
            "jwt_id" => {
                only(object, &["iss", "jti"])?;
                Subject::JwtId {
                    iss: required(object, "iss")?,
                    jti: required(object, "jti")?,
                }
            }
            "saml_assertion_id" => {
                only(object, &["issuer", "assertion_id"])?;
                Subject::SamlAssertionId {
                    issuer: required(object, "issuer")?,
                    assertion_id: required(object, "assertion_id")?,
                }
            }
            "ip-addresses" => {
                only(object, &["ip-addresses"])?;
                let addresses = match object.get("ip-addresses") {
                    Some(Value::Array(items)) if !items.is_empty() && items.len() <= MAX_LIST => {
                        items
                            .iter()
                            .map(|item| item.as_str().and_then(|text| text.parse::<IpAddr>().ok()))
                            .collect::<Option<Vec<_>>>()
                    }
                    _ => None,
                };
                Subject::IpAddresses {
                    addresses: addresses.ok_or(SetError::InvalidSubject(
                        "an `ip-addresses` subject does not list 1 to 16 IP addresses",
                    ))?,
                }
            }
            "complex" => {
                if nesting != Nesting::TopLevel {
                    return Err(SetError::InvalidSubject(
                        "a `complex` subject is nested in another subject",
                    ));
                }
                only(
                    object,
                    &[
                        "user",
                        "device",
                        "session",
                        "application",
                        "tenant",
                        "org_unit",
                        "group",
                    ],
                )?;
                let member = |name: &str| {
                    object
                        .get(name)
                        .map(|value| Self::parse_at(value, Nesting::InComplex))
                        .transpose()
                };
                let complex = ComplexSubject {
                    user: member("user")?,
                    device: member("device")?,
                    session: member("session")?,
                    application: member("application")?,
                    tenant: member("tenant")?,
                    org_unit: member("org_unit")?,
                    group: member("group")?,
                };
                if complex.members().next().is_none() {
                    return Err(SetError::InvalidSubject("a `complex` subject is empty"));
                }
                Subject::Complex(Box::new(complex))
            }
            other => Subject::Unrecognized {
                format: other.to_owned(),
            },
        };
        Ok(subject)
    }

    /// The `format` member.
    pub fn format(&self) -> &str {
        match self {
            Subject::Account { .. } => "account",
            Subject::Email { .. } => "email",
            Subject::IssSub { .. } => "iss_sub",
            Subject::Opaque { .. } => "opaque",
            Subject::PhoneNumber { .. } => "phone_number",
            Subject::Did { .. } => "did",
            Subject::Uri { .. } => "uri",
            Subject::Aliases { .. } => "aliases",
            Subject::JwtId { .. } => "jwt_id",
            Subject::SamlAssertionId { .. } => "saml_assertion_id",
            Subject::IpAddresses { .. } => "ip-addresses",
            Subject::Complex(_) => "complex",
            Subject::Unrecognized { format } => format,
        }
    }
}

/// Refuses members the format does not define (RFC 9493 §3: "MUST NOT contain any members …
/// not described").
fn only(object: &Map<String, Value>, members: &[&str]) -> Result<(), SetError> {
    if object
        .keys()
        .all(|name| name == "format" || members.contains(&name.as_str()))
    {
        Ok(())
    } else {
        Err(SetError::InvalidSubject(
            "a subject has a member its format does not define",
        ))
    }
}

/// The longest identifier accepted (an email address is at most 320 bytes): rules and recorded
/// signals hold them, so their size is bounded.
const MAX_IDENTIFIER_BYTES: usize = 512;
/// The most identifiers an `aliases` or `ip-addresses` subject may list.
const MAX_LIST: usize = 16;

/// A required member: a non-empty string of at most 512 bytes.
fn required(object: &Map<String, Value>, name: &str) -> Result<String, SetError> {
    match object.get(name) {
        Some(Value::String(text)) if !text.is_empty() && text.len() <= MAX_IDENTIFIER_BYTES => {
            Ok(text.clone())
        }
        _ => Err(SetError::InvalidSubject(
            "a subject's required member is missing, empty, longer than 512 bytes or not a string",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(value: Value) -> Result<Subject, SetError> {
        Subject::parse(&value)
    }

    #[test]
    fn reads_every_format() {
        assert_eq!(
            parse(json!({"format":"iss_sub","iss":"https://idp","sub":"u1"})).unwrap(),
            Subject::IssSub {
                iss: "https://idp".into(),
                sub: "u1".into()
            }
        );
        for value in [
            json!({"format":"account","uri":"acct:a@example.com"}),
            json!({"format":"email","email":"a@example.com"}),
            json!({"format":"opaque","id":"x"}),
            json!({"format":"phone_number","phone_number":"+12065550100"}),
            json!({"format":"did","url":"did:example:123"}),
            json!({"format":"uri","uri":"https://example.com/u"}),
            json!({"format":"aliases","identifiers":[{"format":"email","email":"a@b.c"},{"format":"opaque","id":"1"}]}),
            json!({"format":"jwt_id","iss":"https://idp","jti":"j"}),
            json!({"format":"saml_assertion_id","issuer":"https://idp","assertion_id":"a"}),
            json!({"format":"ip-addresses","ip-addresses":["10.0.0.1","::1"]}),
            json!({"format":"complex","user":{"format":"opaque","id":"u"},"tenant":{"format":"opaque","id":"t"}}),
        ] {
            let subject = parse(value.clone()).unwrap();
            assert_eq!(subject.format(), value["format"]);
        }
        assert_eq!(
            parse(json!({"format":"x-custom","anything":1})).unwrap(),
            Subject::Unrecognized {
                format: "x-custom".into()
            }
        );
    }

    #[test]
    fn refuses_what_rfc_9493_forbids() {
        for value in [
            json!({"format":"opaque","id":""}),
            json!({"format":"opaque","id":"x","extra":1}),
            json!({"format":"opaque"}),
            json!({"format":"opaque","id":null}),
            json!({"id":"x"}),
            json!("x"),
            json!({"format":"aliases","identifiers":[{"format":"aliases","identifiers":[{"format":"opaque","id":"1"}]}]}),
            json!({"format":"aliases","identifiers":[]}),
            json!({"format":"complex"}),
            json!({"format":"complex","user":{"format":"complex","user":{"format":"opaque","id":"u"}}}),
            json!({"format":"complex","owner":{"format":"opaque","id":"u"}}),
            json!({"format":"email","email":"no-at-sign"}),
            json!({"format":"phone_number","phone_number":"2065550100"}),
            json!({"format":"account","uri":"mailto:a@b.c"}),
            json!({"format":"ip-addresses","ip-addresses":["not an ip"]}),
        ] {
            assert!(
                matches!(parse(value.clone()), Err(SetError::InvalidSubject(_))),
                "{value}"
            );
        }
    }
}
