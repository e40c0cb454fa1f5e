//! The macros that declare names fixed at compile time: [`scopes!`](crate::scopes),
//! [`roles!`](crate::roles), [`groups!`](crate::groups), [`auth_contexts!`](crate::auth_contexts)
//! and [`acr_values!`](crate::acr_values). They implement `authz`'s name traits and, for a scope
//! or role declared with what administrators need, `registration`'s; nothing in the crate
//! imports this module (the macros are exported at the crate root), so both may import `authz`.

#[doc(hidden)]
#[macro_export]
macro_rules! __warden_names {
    ($kind:ident;) => {};
    // A scope declared with what administrators need (`registration`).
    (Scopes; $(#[$meta:meta])* $vis:vis $name:ident = $value:literal {
        consent: $consent:ident,
        admin: ($admin_name:literal, $admin_description:literal)
        $(, user: ($user_name:literal, $user_description:literal))?
        $(,)?
    }; $($rest:tt)*) => {
        $crate::__warden_names!(@one Scopes; $(#[$meta])* $vis $name = Any [$value]);
        impl $crate::registration::DeclaredScope for $name {
            const PERMISSION: $crate::registration::ScopePermission =
                $crate::registration::ScopePermission::new(
                    $value,
                    $crate::registration::Consent::$consent,
                    $crate::registration::Wording::new($admin_name, $admin_description),
                    $crate::__warden_names!(@wording $($user_name, $user_description)?),
                );
        }
        const _: $crate::registration::ScopePermission =
            <$name as $crate::registration::DeclaredScope>::PERMISSION;
        $crate::__warden_names!(Scopes; $($rest)*);
    };
    // A role declared with what administrators need (`registration`).
    (Roles; $(#[$meta:meta])* $vis:vis $name:ident = $value:literal {
        members: $members:ident,
        display: ($display_name:literal, $description:literal)
        $(,)?
    }; $($rest:tt)*) => {
        $crate::__warden_names!(@one Roles; $(#[$meta])* $vis $name = Any [$value]);
        impl $crate::registration::DeclaredRole for $name {
            const PERMISSION: $crate::registration::RolePermission =
                $crate::registration::RolePermission::new(
                    $value,
                    $crate::registration::Members::$members,
                    $crate::registration::Wording::new($display_name, $description),
                );
        }
        const _: $crate::registration::RolePermission =
            <$name as $crate::registration::DeclaredRole>::PERMISSION;
        $crate::__warden_names!(Roles; $($rest)*);
    };
    (@wording) => { ::core::option::Option::None };
    (@wording $name:literal, $description:literal) => {
        ::core::option::Option::Some($crate::registration::Wording::new($name, $description))
    };
    ($kind:ident; $(#[$meta:meta])* $vis:vis $name:ident = $value:literal; $($rest:tt)*) => {
        $crate::__warden_names!(@one $kind; $(#[$meta])* $vis $name = Any [$value]);
        $crate::__warden_names!($kind; $($rest)*);
    };
    ($kind:ident; $(#[$meta:meta])* $vis:vis $name:ident = any($($value:literal),+ $(,)?); $($rest:tt)*) => {
        $crate::__warden_names!(@one $kind; $(#[$meta])* $vis $name = Any [$($value),+]);
        $crate::__warden_names!($kind; $($rest)*);
    };
    ($kind:ident; $(#[$meta:meta])* $vis:vis $name:ident = all($($value:literal),+ $(,)?); $($rest:tt)*) => {
        $crate::__warden_names!(@one $kind; $(#[$meta])* $vis $name = All [$($value),+]);
        $crate::__warden_names!($kind; $($rest)*);
    };
    (@one $kind:ident; $(#[$meta:meta])* $vis:vis $name:ident = $match:ident [$($value:literal),+]) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
        $vis struct $name;
        impl $crate::authz::NameSet for $name {
            const NAMES: &'static [&'static str] = &[$($value),+];
            const MATCH: $crate::authz::Match = $crate::authz::Match::$match;
        }
        impl $crate::authz::$kind for $name {}
        const _: () = $crate::authz::assert_names(&[$($value),+]);
    };
}

/// Declares delegated scopes for [`RequireScope`](crate::authz::RequireScope) and [`RequireScopeOrRole`](crate::authz::RequireScopeOrRole).
///
/// `Name = "scope";` requires that scope; `Name = any("a", "b");` one of them;
/// `Name = all("a", "b");` every one. Names are checked at compile time.
///
/// ```
/// warden::scopes! {
///     pub OrdersRead = "Orders.Read";
///     pub OrdersReadWrite = all("Orders.Read", "Orders.Write");
/// }
/// ```
///
/// ```compile_fail
/// warden::scopes! { pub Bad = "Orders Read"; } // a space: two scopes, not one
/// ```
///
/// A single scope may also say what administrators need to know of it, for the app registration
/// and the permissions page [`registration`](crate::registration) writes: who may consent
/// (`User` or `Admin`), the wording administrators see, and, when users may consent, the wording
/// users see. The value must then also meet Microsoft Graph's rules (at most 120 characters, not
/// beginning with `.`), checked at compile time.
///
/// ```
/// warden::scopes! {
///     /// Read the caller's orders.
///     pub OrdersRead = "Orders.Read" {
///         consent: User,
///         admin: ("Read orders", "Allows the app to read the signed-in user's orders."),
///         user: ("Read your orders", "Allows the app to read your orders."),
///     };
///     pub OrdersExport = "Orders.Export" {
///         consent: Admin,
///         admin: ("Export all orders", "Allows the app to export every order of the organisation."),
///     };
/// }
/// use warden::registration::{Consent, DeclaredScope};
/// assert_eq!(OrdersExport::PERMISSION.consent(), Consent::Admin);
/// ```
///
/// ```compile_fail
/// warden::scopes! {
///     // Users may consent, but nothing tells them what they consent to.
///     pub OrdersRead = "Orders.Read" { consent: User, admin: ("Read orders", "Reads orders.") };
/// }
/// ```
#[macro_export]
macro_rules! scopes {
    ($($tokens:tt)*) => { $crate::__warden_names!(Scopes; $($tokens)*); };
}

/// Declares app roles for [`RequireRole`](crate::authz::RequireRole) and [`RequireScopeOrRole`](crate::authz::RequireScopeOrRole); the same forms as
/// [`scopes!`](crate::scopes).
///
/// ```
/// warden::roles! { pub OrdersAdmin = "Orders.Admin"; }
/// ```
///
/// A single role may also say who may be assigned it (`Users`, `Applications` or
/// `UsersAndApplications`) and its wording, for [`registration`](crate::registration):
///
/// ```
/// warden::roles! {
///     pub OrdersAdmin = "Orders.Admin" {
///         members: Applications,
///         display: ("Orders administrator", "Allows the app to delete any order."),
///     };
/// }
/// ```
///
/// ```compile_fail
/// warden::roles! {
///     pub Hidden = ".Orders.Admin" { members: Users, display: ("Hidden", "Begins with a dot.") };
/// }
/// ```
#[macro_export]
macro_rules! roles {
    ($($tokens:tt)*) => { $crate::__warden_names!(Roles; $($tokens)*); };
}

/// Declares security groups (Entra group object ids) for [`RequireGroup`](crate::authz::RequireGroup); the same forms as
/// [`scopes!`](crate::scopes).
///
/// ```
/// warden::groups! { pub Finance = "1b3a5c7e-9d2f-4a6b-8c0d-2e4f6a8b0c1d"; }
/// ```
#[macro_export]
macro_rules! groups {
    ($($tokens:tt)*) => { $crate::__warden_names!(Groups; $($tokens)*); };
}

/// Declares Entra authentication context ids (`c1` … `c99`) for [`RequireAuthContext`](crate::authz::RequireAuthContext); the same
/// forms as [`scopes!`](crate::scopes).
///
/// ```
/// warden::auth_contexts! { pub StrongAuth = "c1"; }
/// ```
#[macro_export]
macro_rules! auth_contexts {
    ($($tokens:tt)*) => { $crate::__warden_names!(AuthContexts; $($tokens)*); };
}

/// Declares RFC 9470 `acr` values for [`RequireAcr`](crate::authz::RequireAcr); the same forms as
/// [`scopes!`](crate::scopes), `any(..)` listing them in order of preference.
///
/// ```
/// warden::acr_values! { pub Phr = "phr"; }
/// ```
#[macro_export]
macro_rules! acr_values {
    ($($tokens:tt)*) => { $crate::__warden_names!(AcrValues; $($tokens)*); };
}
