//! What an administrator needs to know of a scope or an app role: the wording consent screens and
//! the admin center show, who may consent, who may be assigned. Declared once, beside the name,
//! with [`scopes!`](crate::scopes) and [`roles!`](crate::roles); read by
//! [`registration`](crate::registration).

use super::names::{Roles, Scopes};

/// A display name and a description, as a consent screen or the admin center shows them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Wording {
    display_name: &'static str,
    description: &'static str,
}

impl Wording {
    /// A display name and a description; both must hold something (checked at compile time in
    /// [`scopes!`](crate::scopes) and [`roles!`](crate::roles)).
    pub const fn new(display_name: &'static str, description: &'static str) -> Self {
        assert!(
            !display_name.is_empty() && !description.is_empty(),
            "a permission's display name and description must not be empty"
        );
        Wording {
            display_name,
            description,
        }
    }

    /// The short name.
    pub const fn display_name(&self) -> &'static str {
        self.display_name
    }

    /// What it grants, in a sentence.
    pub const fn description(&self) -> &'static str {
        self.description
    }
}

/// Who may consent to a delegated scope (Microsoft Graph's `permissionScope.type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Consent {
    /// Users may consent for themselves (`"User"`); a tenant's policy may still require an admin.
    User,
    /// Only an administrator may consent (`"Admin"`).
    Admin,
}

/// Who may be given an app role (Microsoft Graph's `appRole.allowedMemberTypes`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Members {
    /// Users and groups (`["User"]`): a role a user holds when calling through an app.
    Users,
    /// Applications (`["Application"]`): an application permission, for app-only tokens.
    Applications,
    /// Both (`["User", "Application"]`).
    UsersAndApplications,
}

/// A delegated scope as its API declares it: the value in `scp`, who may consent, and the
/// wording for administrators and, where users may consent, for users.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ScopePermission {
    value: &'static str,
    consent: Consent,
    admin: Wording,
    user: Option<Wording>,
}

impl ScopePermission {
    /// A scope; [`scopes!`](crate::scopes) calls this, and fails to compile when `value` breaks
    /// Microsoft Graph's rules or users may consent with no wording for them.
    pub const fn new(
        value: &'static str,
        consent: Consent,
        admin: Wording,
        user: Option<Wording>,
    ) -> Self {
        assert_permission_value(value);
        assert!(
            !matches!(consent, Consent::User) || user.is_some(),
            "a scope users may consent to needs `user: (display name, description)`"
        );
        ScopePermission {
            value,
            consent,
            admin,
            user,
        }
    }

    /// The value tokens carry in `scp`.
    pub const fn value(&self) -> &'static str {
        self.value
    }

    /// Who may consent.
    pub const fn consent(&self) -> Consent {
        self.consent
    }

    /// The wording administrators see.
    pub const fn admin(&self) -> Wording {
        self.admin
    }

    /// The wording users see, when given.
    pub const fn user(&self) -> Option<Wording> {
        self.user
    }
}

/// An app role as its API declares it: the value in `roles`, who may be assigned it, and its
/// wording.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RolePermission {
    value: &'static str,
    members: Members,
    wording: Wording,
}

impl RolePermission {
    /// A role; [`roles!`](crate::roles) calls this, and fails to compile when `value` breaks
    /// Microsoft Graph's rules.
    pub const fn new(value: &'static str, members: Members, wording: Wording) -> Self {
        assert_permission_value(value);
        RolePermission {
            value,
            members,
            wording,
        }
    }

    /// The value tokens carry in `roles`.
    pub const fn value(&self) -> &'static str {
        self.value
    }

    /// Who may be assigned it.
    pub const fn members(&self) -> Members {
        self.members
    }

    /// Its display name and description.
    pub const fn wording(&self) -> Wording {
        self.wording
    }
}

/// A scope type declared with its wording: `Name = "value" { consent: …, admin: (…), … }` in
/// [`scopes!`](crate::scopes).
pub trait DeclaredScope: Scopes {
    /// What administrators need to know of it.
    const PERMISSION: ScopePermission;
}

/// A role type declared with its wording: `Name = "value" { members: …, display: (…) }` in
/// [`roles!`](crate::roles).
pub trait DeclaredRole: Roles {
    /// What administrators need to know of it.
    const PERMISSION: RolePermission;
}

/// A tuple of declared scope types, `(OrdersRead, OrdersWrite)`, for
/// [`ApiPermissionsBuilder::scopes`](crate::registration::ApiPermissionsBuilder::scopes).
pub trait ScopeDeclarations {
    /// The declarations, in the tuple's order.
    fn declarations() -> Vec<ScopePermission>;
}

/// A tuple of declared role types, for
/// [`ApiPermissionsBuilder::roles`](crate::registration::ApiPermissionsBuilder::roles).
pub trait RoleDeclarations {
    /// The declarations, in the tuple's order.
    fn declarations() -> Vec<RolePermission>;
}

macro_rules! declarations {
    ($($t:ident),+) => {
        impl<$($t: DeclaredScope),+> ScopeDeclarations for ($($t,)+) {
            fn declarations() -> Vec<ScopePermission> {
                vec![$($t::PERMISSION),+]
            }
        }
        impl<$($t: DeclaredRole),+> RoleDeclarations for ($($t,)+) {
            fn declarations() -> Vec<RolePermission> {
                vec![$($t::PERMISSION),+]
            }
        }
    };
}

declarations!(A);
declarations!(A, B);
declarations!(A, B, C);
declarations!(A, B, C, D);
declarations!(A, B, C, D, E);
declarations!(A, B, C, D, E, F);
declarations!(A, B, C, D, E, F, G);
declarations!(A, B, C, D, E, F, G, H);
declarations!(A, B, C, D, E, F, G, H, I);
declarations!(A, B, C, D, E, F, G, H, I, J);
declarations!(A, B, C, D, E, F, G, H, I, J, K);
declarations!(A, B, C, D, E, F, G, H, I, J, K, L);
declarations!(A, B, C, D, E, F, G, H, I, J, K, L, M);
declarations!(A, B, C, D, E, F, G, H, I, J, K, L, M, N);
declarations!(A, B, C, D, E, F, G, H, I, J, K, L, M, N, O);
declarations!(A, B, C, D, E, F, G, H, I, J, K, L, M, N, O, P);

/// Whether `value` is what Microsoft Graph accepts as a scope's or an app role's `value`: 1 to
/// 120 characters of `0-9 A-Z a-z` and ``: ! # $ % & ' ( ) * + , - . / ; < = > ? @ [ ] ^ _ ` { | } ~``
/// (printable ASCII but space, `"` and `\`), not beginning with `.`.
pub const fn is_permission_value(value: &str) -> bool {
    let bytes = value.as_bytes();
    if bytes.is_empty() || bytes.len() > 120 || bytes[0] == b'.' {
        return false;
    }
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if !(b == 0x21 || (b >= 0x23 && b <= 0x5B) || (b >= 0x5D && b <= 0x7E)) {
            return false;
        }
        i += 1;
    }
    true
}

/// Fails compilation (in a `const`) when `value` is not [`is_permission_value`].
const fn assert_permission_value(value: &str) {
    assert!(
        is_permission_value(value),
        "a scope or role value must be 1 to 120 characters of printable ASCII without space, '\"' or '\\', not beginning with '.'"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_follow_graphs_rules() {
        // The reference's test inputs (W2.3).
        assert!(is_permission_value("Files.Read"));
        assert!(is_permission_value(&"a".repeat(120)));
        for bad in [
            "Files Read",
            ".hidden",
            "Dateien.Lesen.ü",
            "a\"b",
            "a\\b",
            "",
        ] {
            assert!(!is_permission_value(bad), "{bad}");
        }
        assert!(!is_permission_value(&"a".repeat(121)));
        assert!(is_permission_value(":!#$%&'()*+,-./;<=>?@[]^_`{|}~"));
    }
}
