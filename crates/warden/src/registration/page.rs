//! The permissions page for customers' administrators, and the same permissions as plain JSON
//! for providers other than Entra.

use std::fmt::Write as _;

use serde_json::{Value, json};

use super::{ApiPermissions, Consent, Members};
use crate::authz::{Match, Needs};

impl ApiPermissions {
    /// A Markdown page for the administrators of the organisations that use this API: each
    /// delegated scope and app role with what it grants and who may consent or be assigned,
    /// then each documented route with the least permission that opens it.
    pub fn markdown(&self) -> String {
        let mut page = String::new();
        let title = self.name.as_deref().unwrap_or(&self.identifier_uri);
        let _ = writeln!(page, "# {}: permissions\n", escape(title));
        let _ = writeln!(
            page,
            "Application ID URI: `{}`. Access tokens: v2.0 \
             (`requestedAccessTokenVersion: 2`).\n",
            self.identifier_uri
        );
        page.push_str("## Delegated permissions (scopes)\n\n");
        if self.scopes.is_empty() {
            page.push_str("None.\n\n");
        } else {
            page.push_str(
                "| scope | who may consent | name | what it grants |\n|---|---|---|---|\n",
            );
            for scope in &self.scopes {
                let _ = writeln!(
                    page,
                    "| {} | {} | {} | {} |",
                    code(scope.value()),
                    match scope.consent() {
                        Consent::User => "users, for themselves",
                        Consent::Admin => "administrators only",
                    },
                    escape(scope.admin().display_name()),
                    escape(scope.admin().description()),
                );
            }
            page.push('\n');
        }
        page.push_str("## App roles and application permissions\n\n");
        if self.roles.is_empty() {
            page.push_str("None.\n\n");
        } else {
            page.push_str("| role | assigned to | name | what it grants |\n|---|---|---|---|\n");
            for role in &self.roles {
                let _ = writeln!(
                    page,
                    "| {} | {} | {} | {} |",
                    code(role.value()),
                    members(role.members()),
                    escape(role.wording().display_name()),
                    escape(role.wording().description()),
                );
            }
            page.push('\n');
        }
        if !self.routes.is_empty() {
            page.push_str("## Routes\n\n| route | what opens it |\n|---|---|\n");
            for route in &self.routes {
                let _ = writeln!(
                    page,
                    "| `{}` | {} |",
                    route.name(),
                    match &route.needs {
                        None => "public: no token".to_owned(),
                        Some(needs) => describe(needs),
                    }
                );
            }
        }
        page
    }

    /// The permissions as plain JSON, for providers other than Entra: `resource`, `name`,
    /// `scopes` (value, display name, description, consent, the user's wording), `roles`
    /// (value, display name, description, members) and `routes` (method, path, what opens it).
    /// docs/registration.md maps it to Keycloak's client scopes and roles and Auth0's API
    /// permissions.
    pub fn generic_json(&self) -> Value {
        json!({
            "resource": self.identifier_uri,
            "name": self.name,
            "scopes": self.scopes.iter().map(|scope| json!({
                "value": scope.value(),
                "displayName": scope.admin().display_name(),
                "description": scope.admin().description(),
                "consent": match scope.consent() {
                    Consent::User => "user",
                    Consent::Admin => "admin",
                },
                "userDisplayName": scope.user().map(|user| user.display_name()),
                "userDescription": scope.user().map(|user| user.description()),
            })).collect::<Vec<_>>(),
            "roles": self.roles.iter().map(|role| json!({
                "value": role.value(),
                "displayName": role.wording().display_name(),
                "description": role.wording().description(),
                "members": match role.members() {
                    Members::Users => vec!["users"],
                    Members::Applications => vec!["applications"],
                    Members::UsersAndApplications => vec!["users", "applications"],
                },
            })).collect::<Vec<_>>(),
            "routes": self.routes.iter().map(|route| json!({
                "method": route.method.as_str(),
                "path": route.path,
                "requires": match &route.needs {
                    None => "public: no token".to_owned(),
                    Some(needs) => describe(needs),
                },
            })).collect::<Vec<_>>(),
        })
    }
}

fn members(members: Members) -> &'static str {
    match members {
        Members::Users => "users and groups",
        Members::Applications => "applications (app-only)",
        Members::UsersAndApplications => "users, groups and applications",
    }
}

/// What a route's requirements ask, in words: every part must hold.
pub(crate) fn describe(needs: &[Needs<'static, &'static str>]) -> String {
    if needs.is_empty() {
        return "any valid token".to_owned();
    }
    needs
        .iter()
        .map(describe_one)
        .collect::<Vec<_>>()
        .join(", and ")
}

fn describe_one(needs: &Needs<'static, &'static str>) -> String {
    match *needs {
        Needs::Scopes(names, matching) => list("scope", "scopes", names, matching),
        Needs::Roles(names, matching) => list("app role", "app roles", names, matching),
        Needs::Groups(names, matching) => list("group", "groups", names, matching),
        Needs::ScopeOrRole { scopes, roles } => format!(
            "{}, or {}",
            list("scope", "scopes", scopes, Match::Any),
            list("app role", "app roles", roles, Match::Any)
        ),
        Needs::UserScopeOrAppRole { scopes, roles } => format!(
            "a user's token with {}, or an application's own token with {}",
            list("scope", "scopes", scopes, Match::Any),
            list("app role", "app roles", roles, Match::Any)
        ),
        Needs::App => "an application's own (app-only) token".to_owned(),
        Needs::User => "a user's (delegated) token".to_owned(),
        Needs::AuthContexts(names, matching) => list(
            "authentication context",
            "authentication contexts",
            names,
            matching,
        ),
        Needs::Acr(values) => list(
            "authentication level (`acr`)",
            "authentication levels (`acr`)",
            values,
            Match::Any,
        ),
        Needs::MaxAge(secs) => format!("a sign-in within the last {secs} seconds"),
        Needs::Rule { description, .. } => {
            format!("the API's own rule (refused as \"{description}\")")
        }
    }
}

fn list(one: &str, many: &str, names: &[&str], matching: Match) -> String {
    let quoted: Vec<String> = names.iter().map(|name| code(name)).collect();
    match (quoted.len(), matching) {
        (1, _) => format!("{one} {}", quoted[0]),
        (_, Match::Any) => format!("one of the {many} {}", quoted.join(", ")),
        (_, Match::All) => format!("every one of the {many} {}", quoted.join(", ")),
    }
}

/// A value as inline code in a table cell: Graph's values may hold a backtick or `|`, so the
/// span's fence is longer than any run of backticks inside, and `|` is escaped (a table cell
/// ends at `|` even inside code).
fn code(value: &str) -> String {
    let longest = value.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest + 1);
    let pad = if value.starts_with('`') || value.ends_with('`') {
        " "
    } else {
        ""
    };
    format!("{fence}{pad}{}{pad}{fence}", value.replace('|', "\\|"))
}

/// Text for a table cell: no `|` or line break can end the cell.
fn escape(text: &str) -> String {
    text.replace('|', "\\|").replace(['\n', '\r'], " ")
}

#[cfg(test)]
mod tests {
    use super::code;

    #[test]
    fn values_stay_inside_their_cell() {
        assert_eq!(code("Orders.Read"), "`Orders.Read`");
        assert_eq!(code("a|b"), "`a\\|b`");
        assert_eq!(code("a`b"), "``a`b``");
        assert_eq!(code("`x"), "`` `x ``");
    }
}
