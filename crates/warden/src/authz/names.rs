//! Names fixed at compile time: the [`NameSet`] traits that the macros of `declare`
//! ([`scopes!`](crate::scopes), [`roles!`](crate::roles), [`groups!`](crate::groups),
//! [`auth_contexts!`](crate::auth_contexts), [`acr_values!`](crate::acr_values)) implement.

use crate::metadata::ScopeList;

/// How a set of names is matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Match {
    /// At least one of the names.
    Any,
    /// Every one of the names.
    All,
}

/// A set of names fixed at compile time. Made by [`scopes!`](crate::scopes),
/// [`roles!`](crate::roles) and [`groups!`](crate::groups).
pub trait NameSet: Send + Sync + 'static {
    /// The names.
    const NAMES: &'static [&'static str];
    /// Any or all of them.
    const MATCH: Match;
}

/// A set of delegated scopes; see [`scopes!`](crate::scopes).
pub trait Scopes: NameSet {}
/// A set of app roles; see [`roles!`](crate::roles).
pub trait Roles: NameSet {}
/// A set of security groups (object ids); see [`groups!`](crate::groups).
pub trait Groups: NameSet {}
/// A set of Entra authentication context ids; see [`auth_contexts!`](crate::auth_contexts).
pub trait AuthContexts: NameSet {}
/// A set of RFC 9470 `acr` values; see [`acr_values!`](crate::acr_values).
pub trait AcrValues: NameSet {}

/// Checks names at compile time: non-empty, and only the characters of an RFC 6749 §3.3
/// scope-token (`%x21 / %x23-5B / %x5D-7E`: no space, quote or backslash).
#[doc(hidden)]
pub const fn assert_names(names: &[&str]) {
    assert!(!names.is_empty(), "a requirement needs at least one name");
    let mut i = 0;
    while i < names.len() {
        let bytes = names[i].as_bytes();
        assert!(
            !bytes.is_empty(),
            "a scope, role or group name must not be empty"
        );
        let mut j = 0;
        while j < bytes.len() {
            let b = bytes[j];
            assert!(
                b == 0x21 || (b >= 0x23 && b <= 0x5B) || (b >= 0x5D && b <= 0x7E),
                "a scope, role or group name may only hold printable ASCII without space, '\"' or '\\'"
            );
            j += 1;
        }
        i += 1;
    }
}

// Tuples of scope types name the scopes of RFC 9728 metadata (`ProtectedResource::scopes`).
macro_rules! scope_list {
    ($($t:ident),+) => {
        impl<$($t: Scopes),+> ScopeList for ($($t,)+) {
            fn names() -> Vec<&'static str> {
                let mut names = Vec::new();
                $(names.extend_from_slice($t::NAMES);)+
                names
            }
        }
    };
}

scope_list!(A);
scope_list!(A, B);
scope_list!(A, B, C);
scope_list!(A, B, C, D);
scope_list!(A, B, C, D, E);
scope_list!(A, B, C, D, E, F);
scope_list!(A, B, C, D, E, F, G);
scope_list!(A, B, C, D, E, F, G, H);
scope_list!(A, B, C, D, E, F, G, H, I);
scope_list!(A, B, C, D, E, F, G, H, I, J);
scope_list!(A, B, C, D, E, F, G, H, I, J, K);
scope_list!(A, B, C, D, E, F, G, H, I, J, K, L);
