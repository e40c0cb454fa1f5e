//! How a rule is written in Redis: its identity (target, scope, value) as a compact JSON array,
//! in the rule's key and in the stream entry that announces it, and its instant as the value.

use warden::cae::{Revocation, Scope, Target};

/// A stream entry's position, `<milliseconds>-<sequence>`, ordered as Redis orders them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub(crate) struct EntryId {
    ms: u64,
    seq: u64,
}

impl EntryId {
    pub(crate) const ZERO: EntryId = EntryId { ms: 0, seq: 0 };

    pub(crate) fn parse(text: &str) -> Option<EntryId> {
        let (ms, seq) = text.split_once('-')?;
        Some(EntryId {
            ms: ms.parse().ok()?,
            seq: seq.parse().ok()?,
        })
    }
}

impl std::fmt::Display for EntryId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

/// `["user","tenant","<tid>","<value>"]`: unambiguous whatever the strings hold.
pub(crate) fn identity(revocation: &Revocation) -> Option<String> {
    let target = match revocation.target() {
        Target::User => "user",
        Target::UserWithoutSession => "user_without_session",
        Target::Session => "session",
        Target::Token => "token",
        Target::Client => "client",
        Target::Email => "email",
        // A target this crate does not know yet cannot be shared faithfully.
        _ => return None,
    };
    let (kind, name) = match revocation.scope() {
        Scope::Any => ("any", ""),
        Scope::Tenant(tenant) => ("tenant", &**tenant),
        Scope::Issuer(issuer) => ("issuer", &**issuer),
        _ => return None,
    };
    serde_json::to_string(&[target, kind, name, revocation.value()]).ok()
}

/// The rule an identity and an instant describe; `None` for anything this crate did not write.
pub(crate) fn rule(identity: &str, before: u64) -> Option<Revocation> {
    let [target, kind, name, value]: [String; 4] = serde_json::from_str(identity).ok()?;
    let rule = match target.as_str() {
        "user" => Revocation::user(value),
        "user_without_session" => Revocation::user_without_session(value),
        "session" => Revocation::session(value),
        "token" => Revocation::token(value),
        "client" => Revocation::client(value),
        "email" => Revocation::email(value),
        _ => return None,
    };
    let rule = match kind.as_str() {
        "any" if name.is_empty() => rule,
        "tenant" => rule.in_tenant(name),
        "issuer" => rule.of_issuer(name),
        _ => return None,
    };
    Some(rule.issued_before(before))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identities_round_trip_whatever_the_strings_hold() {
        for revocation in [
            Revocation::user("alice"),
            Revocation::user_without_session("3F2504E0-4F89-41D3-9A0C-0305E82C3301"),
            Revocation::session("s\"],[\"x").in_tenant("T"),
            Revocation::token("").of_issuer("https://issuer.example/a,b"),
            Revocation::client("app:*?[]").in_tenant("72f988bf"),
        ] {
            let revocation = revocation.issued_before(1_700_000_000);
            let id = identity(&revocation).unwrap();
            assert_eq!(rule(&id, 1_700_000_000), Some(revocation));
        }
    }

    #[test]
    fn foreign_identities_are_not_rules() {
        for foreign in [
            "",
            "[]",
            "[\"user\",\"any\",\"\"]",
            "[\"admin\",\"any\",\"\",\"x\"]",
            "[\"user\",\"any\",\"x\",\"y\"]",
            "[\"user\",\"galaxy\",\"\",\"x\"]",
        ] {
            assert_eq!(rule(foreign, 1), None, "{foreign}");
        }
    }

    #[test]
    fn entry_ids_order_numerically() {
        let a = EntryId::parse("1700000000000-9").unwrap();
        let b = EntryId::parse("1700000000000-10").unwrap();
        assert!(a < b);
        assert!(EntryId::ZERO < a);
        assert_eq!(a.to_string(), "1700000000000-9");
        assert_eq!(EntryId::parse("12"), None);
        assert_eq!(EntryId::parse("a-1"), None);
    }
}
