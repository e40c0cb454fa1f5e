//! The `warden` command as a user runs it: a real process, its output and its exit code, with
//! tokens from the fake issuer on 127.0.0.1 and app registrations that each break one rule.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use serde_json::{Value, json};
use warden_testing::FakeIssuer;

const CLEAN: &str = include_str!("data/clean-app.json");
const OWNERS: &str = include_str!("data/owners.json");
const AS_OF: &str = "2026-12-07";

/// Runs `warden` with `args`, `stdin` as its standard input.
fn warden(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_warden"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env_remove("NO_COLOR")
        .spawn()
        .expect("warden runs");
    let mut input = child.stdin.take().expect("stdin");
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).expect("stdin written");
    }
    drop(input);
    child.wait_with_output().expect("warden ends")
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).expect("UTF-8")
}

fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).expect("UTF-8")
}

/// A file in a fresh temporary directory of this test process.
struct TempFile(PathBuf);

impl TempFile {
    fn new(name: &str, content: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("warden-cli-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join(name);
        std::fs::write(&path, content).expect("temp file");
        TempFile(path)
    }

    fn path(&self) -> &str {
        self.0.to_str().expect("UTF-8 path")
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// RFC 7386 merge patch: `patch` over `target`.
fn merge(target: &mut Value, patch: &Value) {
    match (target, patch) {
        (Value::Object(target), Value::Object(patch)) => {
            for (key, value) in patch {
                if value.is_null() {
                    target.remove(key);
                } else {
                    merge(target.entry(key.clone()).or_insert(Value::Null), value);
                }
            }
        }
        (target, patch) => *target = patch.clone(),
    }
}

fn clean() -> Value {
    serde_json::from_str(CLEAN).expect("the clean manifest")
}

/// `warden audit` of the clean registration patched by `patch`, in JSON.
fn audit(patch: &Value, extra: &[&str]) -> (Option<i32>, Value) {
    let mut app = clean();
    merge(&mut app, patch);
    let file = TempFile::new(
        &format!("app-{:x}.json", fxhash(&patch.to_string())),
        &app.to_string(),
    );
    let mut args = vec!["audit", file.path(), "--as-of", AS_OF, "--format", "json"];
    args.extend_from_slice(extra);
    let output = warden(&args, None);
    let report: Value = serde_json::from_str(&stdout(&output))
        .unwrap_or_else(|e| panic!("{e}: {}{}", stdout(&output), stderr(&output)));
    (output.status.code(), report)
}

fn fxhash(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

fn credential(kind: &str, start: &str, end: &str) -> Value {
    json!({
        "customKeyIdentifier": null, "displayName": "credential", "keyId": "8e0a6f3c-5d4b-4a29-b1e7-2c9d8f7a6b5f",
        "startDateTime": start, "endDateTime": end, "type": kind, "usage": "Verify"
    })
}

#[test]
fn a_clean_registration_has_no_finding() {
    let owners = TempFile::new("owners.json", OWNERS);
    let (code, report) = audit(&json!({}), &["--owners", owners.path()]);
    assert_eq!(report["findings"], json!([]), "{report:#}");
    assert_eq!(report["failed"], false);
    assert_eq!(code, Some(0));
}

#[test]
fn secure_forms_and_locked_properties_pass() {
    for patch in [
        json!({"identifierUris": ["api://11111111-1111-4111-8111-111111111111/orders"]}),
        json!({"identifierUris": ["https://contoso.com/orders", "https://api.contoso.com"]}),
        json!({"identifierUris": ["api://orders/0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9"]}),
        // Each sensitive property locked by name.
        json!({"servicePrincipalLockConfiguration": {"allProperties": false}}),
        // A client that exposes no API: its token version does not matter.
        json!({"identifierUris": [], "appRoles": [], "api": {"oauth2PermissionScopes": [],
            "requestedAccessTokenVersion": null}}),
        // Loopback redirects differing by path case are different redirects.
        json!({"publicClient": {"redirectUris": ["http://localhost/cb", "http://localhost/CB"]}}),
    ] {
        let (code, report) = audit(&patch, &[]);
        assert_eq!(
            (code, &report["findings"]),
            (Some(0), &json!([])),
            "{patch}"
        );
    }
}

#[test]
fn each_rule_is_one_finding() {
    let cert = |start: &str, end: &str| credential("AsymmetricX509Cert", start, end);
    let one_owner = TempFile::new(
        "one-owner.json",
        &json!({"value": [{"id": "1a2b3c4d-0000-4000-8000-000000000001"}]}).to_string(),
    );
    let six_owners = TempFile::new(
        "six-owners.json",
        &json!({"value": (1..=6)
            .map(|i| json!({"id": format!("1a2b3c4d-0000-4000-8000-00000000000{i}")}))
            .collect::<Vec<_>>()})
        .to_string(),
    );
    let fic = TempFile::new(
        "fic.json",
        &json!({"value": [{"name": "deploy", "issuer": "https://token.actions.githubusercontent.com",
            "subject": "repo:contoso/orders:ref:refs/heads/main",
            "audiences": ["api://AzureADTokenExchange"]}]})
        .to_string(),
    );
    let many_roles: Vec<Value> = (0..1201)
        .map(|i| {
            json!({"allowedMemberTypes": ["Application"], "description": "d", "displayName": "d",
                   "id": format!("00000000-0000-4000-8000-{i:012}"), "isEnabled": true,
                   "value": format!("Role.{i}")})
        })
        .collect();
    let cases: Vec<(&str, &str, Value, Vec<&str>)> = vec![
        (
            "password-credential",
            "high",
            json!({"passwordCredentials": [
            {"displayName": "secret", "keyId": "5c2e1f0a-0000-4000-8000-000000000001", "hint": "abc",
             "startDateTime": "2026-11-01T00:00:00Z", "endDateTime": "2027-03-01T00:00:00Z"}]}),
            vec![],
        ),
        (
            "symmetric-key",
            "high",
            json!({"keyCredentials": [
            credential("Symmetric", "2026-09-01T00:00:00Z", "2027-06-01T00:00:00Z")]}),
            vec![],
        ),
        (
            "expired-credential",
            "medium",
            json!({"keyCredentials": [
            cert("2025-06-01T00:00:00Z", "2026-01-01T00:00:00Z")]}),
            vec![],
        ),
        (
            "expiring-credential",
            "low",
            json!({"keyCredentials": [
            cert("2026-06-01T00:00:00Z", "2026-12-20T00:00:00Z")]}),
            vec![],
        ),
        (
            "long-lived-credential",
            "low",
            json!({"keyCredentials": [
            cert("2026-01-01T00:00:00Z", "2028-01-01T00:00:00Z")]}),
            vec![],
        ),
        (
            "many-credentials",
            "low",
            json!({"keyCredentials": [
            cert("2026-09-01T00:00:00Z", "2027-06-01T00:00:00Z"),
            cert("2026-10-01T00:00:00Z", "2027-07-01T00:00:00Z"),
            cert("2026-11-01T00:00:00Z", "2027-08-01T00:00:00Z")]}),
            vec![],
        ),
        (
            "public-client-credentials",
            "medium",
            json!({"isFallbackPublicClient": true}),
            vec![],
        ),
        (
            "redirect-wildcard",
            "high",
            json!({"web": {"redirectUris": ["https://*.contoso.com/cb"]}}),
            vec![],
        ),
        (
            "redirect-http",
            "high",
            json!({"web": {"redirectUris": ["http://contoso.com/cb"]}}),
            vec![],
        ),
        (
            "redirect-urn",
            "medium",
            json!({"publicClient": {"redirectUris": ["urn:ietf:wg:oauth:2.0:oob"]}}),
            vec![],
        ),
        (
            "redirect-loopback",
            "low",
            json!({"web": {"redirectUris": ["http://localhost:5000/cb"]}}),
            vec![],
        ),
        (
            "redirect-invalid",
            "invalid",
            json!({"web": {"redirectUris": ["https://contoso.com/a,b"]}}),
            vec![],
        ),
        (
            "redirect-loopback-ports",
            "low",
            json!({"publicClient": {"redirectUris": [
            "http://localhost:5000/cb", "http://localhost:6000/cb"]}}),
            vec![],
        ),
        (
            "redirect-unverified-host",
            "medium",
            json!({"spa": {"redirectUris": ["https://orders.fabrikam.net/app"]}}),
            vec![],
        ),
        (
            "implicit-access-tokens",
            "high",
            json!({"web": {"implicitGrantSettings":
            {"enableAccessTokenIssuance": true}}}),
            vec![],
        ),
        (
            "implicit-id-tokens",
            "medium",
            json!({"web": {"implicitGrantSettings":
            {"enableIdTokenIssuance": true}}}),
            vec![],
        ),
        (
            "identifier-uri-trailing-slash",
            "invalid",
            json!({"identifierUris": ["api://0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9/"]}),
            vec![],
        ),
        (
            "identifier-uri-wildcard",
            "high",
            json!({"identifierUris": ["https://*.contoso.com"]}),
            vec![],
        ),
        (
            "identifier-uri-format",
            "high",
            json!({"identifierUris": ["api://myapi"],
            "api": {"requestedAccessTokenVersion": 2}}),
            vec![],
        ),
        (
            "access-token-version",
            "low",
            json!({"api": {"requestedAccessTokenVersion": null}}),
            vec![],
        ),
        (
            "property-lock",
            "medium",
            json!({"servicePrincipalLockConfiguration": {"isEnabled": false}}),
            vec![],
        ),
        (
            "app-only-permission",
            "info",
            json!({"requiredResourceAccess": [{
            "resourceAppId": "00000003-0000-0000-c000-000000000000",
            "resourceAccess": [{"id": "df021288-bdef-4463-88db-98f22de89214", "type": "Role"}]}]}),
            vec![],
        ),
        (
            "owners-too-few",
            "low",
            json!({}),
            vec!["--owners", one_owner.path()],
        ),
        (
            "owners-too-many",
            "low",
            json!({}),
            vec!["--owners", six_owners.path()],
        ),
        (
            "accept-mapped-claims",
            "high",
            json!({"signInAudience": "AzureADMultipleOrgs",
            "api": {"acceptMappedClaims": true}}),
            vec![],
        ),
        (
            "too-many-entries",
            "invalid",
            json!({"appRoles": many_roles}),
            vec![],
        ),
        (
            "redirect-invalid",
            "invalid",
            json!({"publicClient": {"redirectUris": ["http://[::1]:5000/cb"]}}),
            vec![],
        ),
        (
            "redirect-invalid",
            "invalid",
            json!({"signInAudience": "AzureADandPersonalMicrosoftAccount",
            "spa": {"redirectUris": ["https://orders.contoso.com/app?tab=1"]}}),
            vec![],
        ),
        (
            "identifier-uri-format",
            "high",
            json!({"identifierUris": ["https://contoso.com"]}),
            vec![],
        ),
        (
            "identifier-uri-format",
            "high",
            json!({"identifierUris": ["https://fabrikam.onmicrosoft.com/orders"]}),
            vec![],
        ),
        (
            "identifier-uri-format",
            "high",
            json!({"identifierUris": [
            "api://99999999-9999-4999-8999-999999999999/0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9"]}),
            vec!["--tenant", "11111111-1111-4111-8111-111111111111"],
        ),
        (
            "untrusted-federated-issuer",
            "medium",
            json!({}),
            vec![
                "--federated-credentials",
                fic.path(),
                "--trusted-issuer",
                "https://login.microsoftonline.com/11111111-1111-4111-8111-111111111111/v2.0",
            ],
        ),
        (
            "federated-credential-review",
            "info",
            json!({}),
            vec!["--federated-credentials", fic.path()],
        ),
    ];
    for (rule, severity, patch, extra) in &cases {
        let (code, report) = audit(patch, extra);
        let findings = report["findings"].as_array().expect("findings");
        assert_eq!(findings.len(), 1, "{rule}: {report:#}");
        assert_eq!(findings[0]["rule"], *rule, "{report:#}");
        assert_eq!(findings[0]["severity"], *severity, "{rule}");
        for field in ["property", "message", "why", "fix"] {
            assert!(
                !findings[0][field].as_str().unwrap_or_default().is_empty(),
                "{rule}: {field}"
            );
        }
        // Default --fail-on low: everything but informational notes fails.
        let fails = *severity != "info";
        assert_eq!(code, Some(i32::from(fails)), "{rule}");
        assert_eq!(report["failed"], fails, "{rule}");
    }
    // The reference's redirect URI list, in one registration: one finding each.
    let (_, report) = audit(
        &json!({"web": {"redirectUris": [
        "https://*.contoso.com/cb", "http://contoso.com/cb", "urn:ietf:wg:oauth:2.0:oob",
        "http://localhost:5000/cb", "https://contoso.com/a,b"]}}),
        &[],
    );
    let rules: Vec<&str> = report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| f["rule"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(
        rules,
        [
            "redirect-invalid",
            "redirect-http",
            "redirect-wildcard",
            "redirect-urn",
            "redirect-loopback"
        ]
    );
}

warden::scopes! {
    pub OrdersRead = "Orders.Read" {
        consent: User,
        admin: ("Read orders", "Allows the app to read the signed-in user's orders."),
        user: ("Read your orders", "Allows the app to read your orders."),
    };
    pub OrdersExport = "Orders.Export" {
        consent: Admin,
        admin: ("Export orders", "Allows the app to export every order."),
    };
}
warden::roles! {
    pub OrdersAdmin = "Orders.Admin" {
        members: Applications,
        display: ("Delete any order", "Allows the app to delete any order, with no user signed in."),
    };
}

/// The manifest an API declaring these scopes and roles prints.
fn expected(scopes: &[&str], role: bool) -> TempFile {
    use warden::registration::ApiPermissions;
    let mut builder = ApiPermissions::builder("api://0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9");
    if scopes.contains(&"Orders.Read") {
        builder = builder.scopes::<(OrdersRead,)>();
    }
    if scopes.contains(&"Orders.Export") {
        builder = builder.scopes::<(OrdersExport,)>();
    }
    if role {
        builder = builder.roles::<(OrdersAdmin,)>();
    }
    let manifest = builder
        .build()
        .expect("permissions")
        .entra_manifest()
        .to_json();
    TempFile::new(
        &format!("expect-{}-{role}.json", scopes.join("+")),
        &manifest,
    )
}

#[test]
fn drift_between_the_registration_and_the_api_is_found_both_ways() {
    let same = expected(&["Orders.Read"], true);
    let (code, report) = audit(&json!({}), &["--expect", same.path()]);
    assert_eq!((code, report["findings"].clone()), (Some(0), json!([])));

    for (file, rule, severity) in [
        (expected(&[], true), "unused-scope", "medium"),
        (expected(&["Orders.Read"], false), "unused-role", "medium"),
        (
            expected(&["Orders.Read", "Orders.Export"], true),
            "missing-scope",
            "high",
        ),
    ] {
        let (code, report) = audit(&json!({}), &["--expect", file.path()]);
        let findings = report["findings"].as_array().expect("findings");
        assert_eq!(findings.len(), 1, "{rule}: {report:#}");
        assert_eq!(
            (
                findings[0]["rule"].as_str(),
                findings[0]["severity"].as_str()
            ),
            (Some(rule), Some(severity))
        );
        assert_eq!(code, Some(1));
    }
    // Registered assignable to users, declared for applications only.
    let (_, report) = audit(
        &json!({"appRoles": [{"allowedMemberTypes": ["User", "Application"], "description": "d",
            "displayName": "d", "id": "cde6b5e1-8ada-5a14-9414-2e681992669c", "isEnabled": true,
            "value": "Orders.Admin"}]}),
        &["--expect", same.path()],
    );
    let rules: Vec<&str> = report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| f["rule"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(rules, ["role-members-drift"], "{report:#}");
    // Registered without the role it needs: a role missing.
    let (_, report) = audit(&json!({"appRoles": []}), &["--expect", same.path()]);
    assert_eq!(report["findings"][0]["rule"], "missing-role", "{report:#}");
    // Registered as user-consentable where the API requires admin consent.
    let mut app = clean();
    let export = json!({"adminConsentDescription": "d", "adminConsentDisplayName": "d",
        "id": "00000000-0000-4000-8000-00000000e000", "isEnabled": true, "type": "User",
        "value": "Orders.Export"});
    app["api"]["oauth2PermissionScopes"]
        .as_array_mut()
        .expect("scopes")
        .push(export);
    let wanted = expected(&["Orders.Read", "Orders.Export"], true);
    let (_, report) = audit(&app, &["--expect", wanted.path()]);
    let rules: Vec<&str> = report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| f["rule"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(rules, ["scope-consent-drift"], "{report:#}");
}

#[test]
fn audit_speaks_text_without_colour_off_a_terminal_and_fails_on_its_threshold() {
    let mut app = clean();
    merge(
        &mut app,
        &json!({"web": {"implicitGrantSettings": {"enableIdTokenIssuance": true}}}),
    );
    let file = TempFile::new("implicit.json", &app.to_string());
    let output = warden(&["audit", file.path(), "--as-of", AS_OF], None);
    let text = stdout(&output);
    assert!(
        text.starts_with(
            "MEDIUM   implicit-id-tokens  web.implicitGrantSettings.enableIdTokenIssuance\n"
        ),
        "{text}"
    );
    assert!(
        text.contains("\n         why: ") && text.contains("\n         fix: "),
        "{text}"
    );
    assert!(
        text.ends_with("1 finding(s): 0 invalid, 0 high, 1 medium, 0 low, 0 info\n"),
        "{text}"
    );
    assert!(!text.contains('\u{1b}'), "no colour off a terminal");
    assert_eq!(output.status.code(), Some(1));
    let high = warden(
        &["audit", file.path(), "--as-of", AS_OF, "--fail-on", "high"],
        None,
    );
    assert_eq!(high.status.code(), Some(0));
    // The manifest from standard input.
    let piped = warden(&["audit", "-", "--as-of", AS_OF], Some(&app.to_string()));
    assert_eq!(stdout(&piped), text);
}

#[test]
fn bad_arguments_and_unreadable_input_exit_2() {
    let not_json = TempFile::new("not.json", "{ nope");
    // The Azure AD Graph format the admin center used to download.
    let aad_graph = TempFile::new(
        "aad-graph.json",
        &json!({"appId": "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9", "oauth2Permissions": [],
            "replyUrlsWithType": [], "accessTokenAcceptedVersion": null})
        .to_string(),
    );
    for args in [
        vec!["audit"],
        vec!["audit", "/nonexistent/app.json"],
        vec!["audit", not_json.path()],
        vec!["audit", not_json.path(), "--fail-on", "severe"],
        vec!["audit", not_json.path(), "--as-of", "07/12/2026"],
        vec!["audit", not_json.path(), "--colour"],
        vec!["inspect"],
        vec!["inspect", "a.b.c", "--audience", "api://x"],
        vec!["inspect", "a.b.c", "--issuer", "https://login.example.com"],
        vec!["manifest", "show"],
        vec!["frobnicate"],
        vec![],
        vec!["audit", not_json.path(), "--tenant", "--format", "json"],
        vec!["audit", "-", "--owners", "-"],
        vec!["audit", aad_graph.path()],
        vec!["inspect", "not-a-token"],
    ] {
        let output = warden(&args, None);
        assert_eq!(
            output.status.code(),
            Some(2),
            "{args:?}: {}",
            stderr(&output)
        );
        assert!(stderr(&output).starts_with("warden: "), "{args:?}");
        assert!(stdout(&output).is_empty(), "{args:?}");
    }
    let help = warden(&["--help"], None);
    assert_eq!(help.status.code(), Some(0));
    assert!(stdout(&help).contains("examples:") && stdout(&help).contains("exit codes:"));
    for command in ["inspect", "audit", "manifest"] {
        let help = warden(&[command, "--help"], None);
        assert_eq!(help.status.code(), Some(0), "{command}");
        assert!(stdout(&help).contains("exit codes:"), "{command}");
    }
}

#[test]
fn manifests_are_shown_and_compared_with_graphs_two_step_removal() {
    let current = TempFile::new("current.json", CLEAN);
    let wanted = expected(&["Orders.Export"], true);
    let shown = warden(&["manifest", "show", current.path()], None);
    assert_eq!(shown.status.code(), Some(0));
    let normalised: Value = serde_json::from_str(&stdout(&shown)).expect("JSON");
    assert_eq!(
        normalised["api"]["oauth2PermissionScopes"][0]["value"],
        "Orders.Read"
    );
    assert!(!stdout(&shown).contains("origin"));

    let diff = warden(&["manifest", "diff", current.path(), wanted.path()], None);
    assert_eq!(diff.status.code(), Some(1));
    let text = stdout(&diff);
    assert!(
        text.contains("+ scope Orders.Export\n") && text.contains("- scope Orders.Read\n"),
        "{text}"
    );

    let patches = warden(
        &[
            "manifest",
            "diff",
            current.path(),
            wanted.path(),
            "--patches",
        ],
        None,
    );
    let bodies: Value = serde_json::from_str(&stdout(&patches)).expect("JSON");
    let scopes = |i: usize| -> Vec<(String, bool)> {
        bodies[i]["api"]["oauth2PermissionScopes"]
            .as_array()
            .expect("scopes")
            .iter()
            .map(|s| {
                (
                    s["value"].as_str().unwrap_or_default().to_owned(),
                    s["isEnabled"] == true,
                )
            })
            .collect()
    };
    assert_eq!(bodies.as_array().map(Vec::len), Some(2));
    assert_eq!(
        scopes(0),
        [
            ("Orders.Export".to_owned(), true),
            ("Orders.Read".to_owned(), false)
        ]
    );
    assert_eq!(scopes(1), [("Orders.Export".to_owned(), true)]);
    // The role kept its registered id.
    assert_eq!(
        bodies[1]["appRoles"][0]["id"],
        "cde6b5e1-8ada-5a14-9414-2e681992669c"
    );

    let same = warden(&["manifest", "diff", current.path(), current.path()], None);
    assert_eq!(
        (same.status.code(), stdout(&same)),
        (Some(0), String::new())
    );
}

/// `warden inspect -` against the fake Entra issuer at `base`; the token is never written back.
fn inspect_entra(base: &str, token: &str) -> (Option<i32>, String) {
    let args = [
        "inspect",
        "-",
        "--entra",
        warden_testing::DEFAULT_TENANT,
        "--audience",
        "api://orders",
        "--authority",
        base,
    ];
    let output = warden(&args, Some(token));
    let text = stdout(&output);
    let signature = token.rsplit('.').next().unwrap_or_default();
    assert!(!text.contains(signature) && !stderr(&output).contains(signature));
    (output.status.code(), text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inspect_explains_each_check_against_an_entra_issuer() {
    let issuer = FakeIssuer::builder()
        .entra(warden_testing::DEFAULT_TENANT)
        .audience("api://orders")
        .start()
        .await
        .expect("fake issuer");
    let base = issuer.base_url().to_owned();
    let check = |token: String| {
        let base = base.clone();
        tokio::task::spawn_blocking(move || inspect_entra(&base, &token))
    };
    let valid = issuer
        .token()
        .scopes(["Orders.Read", "Orders.Write"])
        .cae_capable()
        .sign();
    let (code, text) = check(valid).await.expect("run");
    assert_eq!(code, Some(0), "{text}");
    assert!(
        text.contains("header (not verified)") && text.contains("\"kid\""),
        "{text}"
    );
    for name in ["format", "claims", "key", "signature", "revocation"] {
        assert!(
            text.contains(&format!("  passed   {name}\n")),
            "{name}: {text}"
        );
    }
    assert!(text.contains("  kind:        a user, through a client application (delegated)\n"));
    assert!(
        text.contains("  scopes:      Orders.Read Orders.Write\n"),
        "{text}"
    );
    assert!(text.contains("  CAE capable: yes"), "{text}");
    assert!(text.ends_with("\nvalid\n"), "{text}");

    let cases = [
        (
            issuer.token().expires_at(1).sign(),
            "expired",
            "claims: token expired",
        ),
        // Expired and signed by an unknown key: the earlier check is the one reported.
        (
            issuer.token().expires_at(1).header("kid", "nope").sign(),
            "expired",
            "claims: token expired",
        ),
        (
            issuer.token().audience("api://other").sign(),
            "wrong_audience",
            "claims: wrong audience",
        ),
        (
            issuer.token().header("kid", "nope").sign(),
            "unknown_key",
            "key: unknown signing key",
        ),
        (
            issuer.token().sign_tampered(),
            "bad_signature",
            "signature: invalid signature",
        ),
        (
            "not-a-token".to_owned(),
            "malformed",
            "format: malformed token",
        ),
    ];
    for (token, kind, failed) in cases {
        let (code, text) = check(token).await.expect("run");
        assert_eq!(code, Some(1), "{kind}: {text}");
        assert!(text.ends_with(&format!("\n{kind}\n")), "{kind}: {text}");
        assert!(
            text.contains(&format!("  failed   {failed}")),
            "{kind}: {text}"
        );
        let after = text
            .split(&format!("  failed   {failed}"))
            .nth(1)
            .unwrap_or_default();
        assert!(
            !after.contains("passed"),
            "nothing after the failed check passed: {text}"
        );
        assert!(after.contains("  not run  revocation"), "{kind}: {text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inspect_decodes_alone_and_reports_an_unreachable_issuer() {
    let issuer = FakeIssuer::start().await.expect("fake issuer");
    let token = issuer.token().scopes(["files:read"]).sign();
    let decoded = warden(&["inspect", &token], None);
    assert_eq!(decoded.status.code(), Some(0));
    let text = stdout(&decoded);
    assert!(
        text.contains("claims (not verified)") && text.contains("\"files:read\""),
        "{text}"
    );
    assert!(
        text.contains("not verified: pass --issuer") && !text.contains("\nvalid"),
        "{text}"
    );

    // A generic OpenID Connect issuer: keys by discovery, RFC 9068 tokens.
    let url = issuer.issuer_url();
    let audience = issuer.audience().to_owned();
    let output = tokio::task::spawn_blocking(move || {
        warden(
            &["inspect", &token, "--issuer", &url, "--audience", &audience],
            None,
        )
    })
    .await
    .expect("run");
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
    assert!(stdout(&output).ends_with("\nvalid\n"));

    // Amazon Cognito's access token (no typ, no aud, its app client in client_id): valid
    // with --profile cognito and the app client as the audience, not with the default.
    let app_client = "3n4b5urk1ft4fl3mg5e62d9ado";
    let cognito = issuer
        .token()
        .without_header("typ")
        .without_claim("aud")
        .claim("token_use", "access")
        .claim("client_id", app_client)
        .sign();
    let url = issuer.issuer_url();
    let inspect = |profile: Option<&'static str>| {
        let (token, url) = (cognito.clone(), url.clone());
        tokio::task::spawn_blocking(move || {
            let mut args = vec![
                "inspect",
                &token,
                "--issuer",
                &url,
                "--audience",
                app_client,
            ];
            if let Some(profile) = profile {
                args.extend(["--profile", profile]);
            }
            warden(&args, None)
        })
    };
    let output = inspect(Some("cognito")).await.expect("run");
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
    assert!(stdout(&output).ends_with("\nvalid\n"));
    let output = inspect(None).await.expect("run");
    assert_eq!(output.status.code(), Some(1), "{}", stdout(&output));
    assert_eq!(stdout(&output).lines().last(), Some("wrong_type"));

    // Nothing listens there: the keys cannot be had.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("port");
        listener.local_addr().expect("address").port()
    };
    let url = format!("http://127.0.0.1:{closed}");
    let token = issuer.token().claim("iss", url.clone()).sign();
    let audience = issuer.audience().to_owned();
    let output = tokio::task::spawn_blocking(move || {
        warden(
            &["inspect", &token, "--issuer", &url, "--audience", &audience],
            None,
        )
    })
    .await
    .expect("run");
    assert_eq!(output.status.code(), Some(3), "{}", stdout(&output));
    assert!(stdout(&output).ends_with("\nunavailable\n"));
}
