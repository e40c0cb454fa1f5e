//! Microsoft Entra's application manifest, the part an API's permissions make: Microsoft
//! Graph's `application` resource (`identifierUris`, `api`, `appRoles`), with Graph's field names.

use serde::{Deserialize, Serialize};

use super::{ApiPermissions, Consent, Members};

/// The fragment of an Entra application (Microsoft Graph's `application` resource) that an API's
/// permissions make. Reads the whole object Graph returns for `GET /applications/{id}` (or the
/// admin center's manifest) too: fields it does not model are kept in `api` and ignored
/// elsewhere.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct EntraManifest {
    /// `identifierUris`: the Application ID URI.
    #[serde(default)]
    pub identifier_uris: Vec<String>,
    /// `api`: the delegated permissions and the token version.
    #[serde(default)]
    pub api: EntraApi,
    /// `appRoles`.
    #[serde(default)]
    pub app_roles: Vec<AppRole>,
}

/// Graph's `apiApplication`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct EntraApi {
    /// `requestedAccessTokenVersion`: `2` for v2.0 access tokens (`null` means 1).
    #[serde(default)]
    pub requested_access_token_version: Option<u8>,
    /// `oauth2PermissionScopes`: the delegated permissions.
    #[serde(default)]
    pub oauth2_permission_scopes: Vec<PermissionScope>,
    /// The rest of `api` as the registration has it (`preAuthorizedApplications`,
    /// `knownClientApplications`, …), carried through an update unchanged.
    #[serde(flatten)]
    pub other: serde_json::Map<String, serde_json::Value>,
}

/// Graph's `permissionScope`: a delegated permission.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct PermissionScope {
    /// A stable GUID.
    pub id: String,
    /// The value tokens carry in `scp` (empty when Graph has none).
    #[serde(deserialize_with = "null_as_empty")]
    pub value: String,
    /// `User` (users may consent) or `Admin`.
    #[serde(rename = "type")]
    pub consent_type: String,
    /// Whether it can be requested; a scope is disabled before it is removed.
    pub is_enabled: bool,
    /// What administrators see.
    #[serde(default)]
    pub admin_consent_display_name: Option<String>,
    /// What administrators see.
    #[serde(default)]
    pub admin_consent_description: Option<String>,
    /// What users see.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_consent_display_name: Option<String>,
    /// What users see.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_consent_description: Option<String>,
}

/// Graph's `appRole`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct AppRole {
    /// A stable GUID.
    pub id: String,
    /// The value tokens carry in `roles` (empty when Graph has none, as for some gallery
    /// applications' roles).
    #[serde(deserialize_with = "null_as_empty")]
    pub value: String,
    /// `User` (users and groups), `Application`, or both.
    pub allowed_member_types: Vec<String>,
    /// The name shown when it is assigned.
    #[serde(default)]
    pub display_name: Option<String>,
    /// What it grants.
    #[serde(default)]
    pub description: Option<String>,
    /// Whether it can be assigned; a role is disabled before it is removed.
    pub is_enabled: bool,
}

/// Graph writes `null` for a value never set.
fn null_as_empty<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    Ok(Option::<String>::deserialize(deserializer)?.unwrap_or_default())
}

impl ApiPermissions {
    /// The Entra manifest fragment of these permissions: the identifier URI, v2.0 access tokens,
    /// every declared scope and role (sorted by value, enabled, with ids derived from the
    /// identifier URI and the value).
    pub fn entra_manifest(&self) -> EntraManifest {
        EntraManifest {
            identifier_uris: vec![self.identifier_uri.clone()],
            api: EntraApi {
                requested_access_token_version: Some(2),
                oauth2_permission_scopes: self
                    .scopes
                    .iter()
                    .map(|scope| PermissionScope {
                        id: self.id("scope", scope.value()),
                        value: scope.value().to_owned(),
                        consent_type: match scope.consent() {
                            Consent::User => "User",
                            Consent::Admin => "Admin",
                        }
                        .to_owned(),
                        is_enabled: true,
                        admin_consent_display_name: Some(scope.admin().display_name().to_owned()),
                        admin_consent_description: Some(scope.admin().description().to_owned()),
                        user_consent_display_name: scope
                            .user()
                            .map(|user| user.display_name().to_owned()),
                        user_consent_description: scope
                            .user()
                            .map(|user| user.description().to_owned()),
                    })
                    .collect(),
                other: serde_json::Map::new(),
            },
            app_roles: self
                .roles
                .iter()
                .map(|role| AppRole {
                    id: self.id("role", role.value()),
                    value: role.value().to_owned(),
                    allowed_member_types: match role.members() {
                        Members::Users => vec!["User".to_owned()],
                        Members::Applications => vec!["Application".to_owned()],
                        Members::UsersAndApplications => {
                            vec!["User".to_owned(), "Application".to_owned()]
                        }
                    },
                    display_name: Some(role.wording().display_name().to_owned()),
                    description: Some(role.wording().description().to_owned()),
                    is_enabled: true,
                })
                .collect(),
        }
    }
}

impl EntraManifest {
    /// Reads a manifest: this fragment, or a whole application object from Microsoft Graph or
    /// the admin center.
    pub fn from_json(json: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(json)
    }

    /// The manifest as pretty JSON with a final newline; the same bytes for the same manifest.
    pub fn to_json(&self) -> String {
        // Serializing these plain structs cannot fail; the fallback is never taken.
        let mut json = serde_json::to_string_pretty(self).unwrap_or_default();
        json.push('\n');
        json
    }

    /// The Microsoft Graph `PATCH /applications/{id}` bodies that turn the registration `current`
    /// into this manifest, to send in order. Permissions keep the ids `current` gives their
    /// value (a new id would be a new permission, and consent given to the old one would be
    /// lost); the rest of `current.api` is carried unchanged. Graph refuses to remove an
    /// enabled permission, so when this manifest drops some, the first body keeps them disabled
    /// and the second removes them; otherwise one body does it all.
    pub fn updates_from(&self, current: &EntraManifest) -> Vec<EntraManifest> {
        let mut target = self.clone();
        target.api.other = current.api.other.clone();
        for scope in &mut target.api.oauth2_permission_scopes {
            if let Some(old) = current
                .api
                .oauth2_permission_scopes
                .iter()
                .find(|old| !old.value.is_empty() && old.value == scope.value)
            {
                scope.id.clone_from(&old.id);
            }
        }
        for role in &mut target.app_roles {
            if let Some(old) = current
                .app_roles
                .iter()
                .find(|old| !old.value.is_empty() && old.value == role.value)
            {
                role.id.clone_from(&old.id);
            }
        }
        let dropped_scopes: Vec<PermissionScope> = current
            .api
            .oauth2_permission_scopes
            .iter()
            .filter(|old| old.is_enabled && !target.has_scope(&old.value))
            .map(|old| PermissionScope {
                is_enabled: false,
                ..old.clone()
            })
            .collect();
        let dropped_roles: Vec<AppRole> = current
            .app_roles
            .iter()
            .filter(|old| old.is_enabled && !target.has_role(&old.value))
            .map(|old| AppRole {
                is_enabled: false,
                ..old.clone()
            })
            .collect();
        // A client pre-authorized for a scope that goes must lose it first: Graph refuses to
        // disable a scope that `preAuthorizedApplications` still names.
        let kept: Vec<&str> = target
            .api
            .oauth2_permission_scopes
            .iter()
            .map(|scope| scope.id.as_str())
            .collect();
        let dropped_ids: Vec<&str> = current
            .api
            .oauth2_permission_scopes
            .iter()
            .filter(|old| !kept.contains(&old.id.as_str()))
            .map(|old| old.id.as_str())
            .collect();
        strip_pre_authorizations(&mut target.api.other, &dropped_ids);
        if dropped_scopes.is_empty() && dropped_roles.is_empty() {
            return vec![target];
        }
        let mut disable = target.clone();
        disable.api.oauth2_permission_scopes.extend(dropped_scopes);
        disable
            .api
            .oauth2_permission_scopes
            .sort_by(|a, b| a.value.cmp(&b.value));
        disable.app_roles.extend(dropped_roles);
        disable.app_roles.sort_by(|a, b| a.value.cmp(&b.value));
        vec![disable, target]
    }

    fn has_scope(&self, value: &str) -> bool {
        !value.is_empty()
            && self
                .api
                .oauth2_permission_scopes
                .iter()
                .any(|scope| scope.value == value)
    }

    fn has_role(&self, value: &str) -> bool {
        !value.is_empty() && self.app_roles.iter().any(|role| role.value == value)
    }
}

/// Removes `dropped` scope ids from each `preAuthorizedApplications` entry of `api`, and the
/// entries left with none.
fn strip_pre_authorizations(
    api: &mut serde_json::Map<String, serde_json::Value>,
    dropped: &[&str],
) {
    let Some(serde_json::Value::Array(clients)) = api.get_mut("preAuthorizedApplications") else {
        return;
    };
    for client in clients.iter_mut() {
        if let Some(serde_json::Value::Array(ids)) = client.get_mut("delegatedPermissionIds") {
            ids.retain(|id| id.as_str().is_none_or(|id| !dropped.contains(&id)));
        }
    }
    clients.retain(|client| {
        client
            .get("delegatedPermissionIds")
            .and_then(serde_json::Value::as_array)
            .is_none_or(|ids| !ids.is_empty())
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope(value: &str, id: &str, enabled: bool) -> PermissionScope {
        PermissionScope {
            id: id.to_owned(),
            value: value.to_owned(),
            consent_type: "User".to_owned(),
            is_enabled: enabled,
            admin_consent_display_name: Some("d".to_owned()),
            admin_consent_description: Some("d".to_owned()),
            user_consent_display_name: None,
            user_consent_description: None,
        }
    }

    fn manifest(scopes: Vec<PermissionScope>) -> EntraManifest {
        EntraManifest {
            identifier_uris: vec!["api://files".to_owned()],
            api: EntraApi {
                requested_access_token_version: Some(2),
                oauth2_permission_scopes: scopes,
                other: serde_json::Map::new(),
            },
            app_roles: Vec::new(),
        }
    }

    #[test]
    fn removing_a_scope_disables_it_first() {
        // The reference's lifecycle input (W2.4): removing `Files.Read`.
        let current = manifest(vec![
            scope("Files.Read", "11111111-1111-1111-1111-111111111111", true),
            scope("Files.Write", "22222222-2222-2222-2222-222222222222", true),
        ]);
        let wanted = manifest(vec![scope(
            "Files.Write",
            "33333333-3333-5333-8333-333333333333",
            true,
        )]);
        let updates = wanted.updates_from(&current);
        assert_eq!(updates.len(), 2);
        let first = &updates[0].api.oauth2_permission_scopes;
        assert_eq!(first.len(), 2);
        assert_eq!(
            (first[0].value.as_str(), first[0].is_enabled),
            ("Files.Read", false)
        );
        // The kept scope keeps the id the registration gave it.
        assert_eq!(first[1].id, "22222222-2222-2222-2222-222222222222");
        let second = &updates[1].api.oauth2_permission_scopes;
        assert_eq!(second.len(), 1);
        assert_eq!(second[0].value, "Files.Write");
        assert_eq!(second[0].id, "22222222-2222-2222-2222-222222222222");
    }

    #[test]
    fn nothing_removed_is_one_update() {
        let current = manifest(vec![
            scope("Files.Read", "11111111-1111-1111-1111-111111111111", false),
            scope("Files.Write", "22222222-2222-2222-2222-222222222222", true),
        ]);
        let wanted = manifest(vec![scope("Files.Write", "x", true)]);
        // The disabled scope may go at once.
        let updates = wanted.updates_from(&current);
        assert_eq!(updates.len(), 1);
        assert_eq!(updates[0].api.oauth2_permission_scopes.len(), 1);
    }

    #[test]
    fn reads_what_graph_returns_and_keeps_the_rest_of_api() {
        let graph = r#"{
            "id": "00000000-0000-0000-0000-000000000001",
            "appId": "00000000-0000-0000-0000-000000000002",
            "identifierUris": ["api://files"],
            "api": {
                "acceptMappedClaims": null,
                "knownClientApplications": [],
                "requestedAccessTokenVersion": 2,
                "oauth2PermissionScopes": [{
                    "adminConsentDescription": "Read files", "adminConsentDisplayName": "Read files",
                    "id": "11111111-1111-1111-1111-111111111111", "isEnabled": true, "type": "User",
                    "userConsentDescription": null, "userConsentDisplayName": null,
                    "value": "Files.Read"
                }],
                "preAuthorizedApplications": [
                    {"appId": "a", "delegatedPermissionIds": ["11111111-1111-1111-1111-111111111111"]},
                    {"appId": "b", "delegatedPermissionIds": [
                        "11111111-1111-1111-1111-111111111111", "55555555-5555-5555-5555-555555555555"]}
                ]
            },
            "appRoles": [{
                "allowedMemberTypes": ["Application"], "description": "All files",
                "displayName": "Files.Read.All", "id": "44444444-4444-4444-4444-444444444444",
                "isEnabled": true, "origin": "Application", "value": "Files.Read.All"
            }, {
                "allowedMemberTypes": ["User"], "description": "msiam_access",
                "displayName": "msiam_access", "id": "66666666-6666-6666-6666-666666666666",
                "isEnabled": true, "origin": "Application", "value": null
            }]
        }"#;
        let current = EntraManifest::from_json(graph).expect("Graph's application object");
        assert_eq!(current.api.oauth2_permission_scopes[0].value, "Files.Read");
        assert_eq!(current.app_roles[0].allowed_member_types, ["Application"]);
        let updates = manifest(vec![scope("Files.Read", "x", true)]).updates_from(&current);
        let body: serde_json::Value = serde_json::from_str(&updates[0].to_json()).expect("JSON");
        assert!(body["api"]["preAuthorizedApplications"].is_array());
        // `origin` is read-only: never sent.
        assert!(updates.iter().all(|u| !u.to_json().contains("origin")));
        // A round trip through serde keeps the manifest.
        let again = EntraManifest::from_json(&updates[1].to_json()).expect("JSON");
        assert_eq!(&again, &updates[1]);
    }
}
