//! `warden audit`: an Entra app registration (Microsoft Graph's `application` object, or the
//! admin center's manifest: the same JSON) against Microsoft's "Security best practices for
//! application properties", and against the API's own declared permissions.
//!
//! Each rule has a stable id, a severity, the property it reads, why it matters and the fix.
//! Severities that are policy (Microsoft names the practice, not a level) are warden's choice,
//! listed in docs/registration.md.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use serde_json::{Value, json};

use crate::args::Args;
use crate::exit;
use crate::output::{self, Style};

const HELP: &str = "\
warden audit: check an Entra app registration against Microsoft's security best practices

usage:
  warden audit <app.json | -> [--owners owners.json] [--expect manifest.json]
                              [--federated-credentials fic.json [--trusted-issuer URL]...]
                              [--verified-domain DOMAIN]... [--tenant TENANT_ID]
                              [--as-of YYYY-MM-DD] [--format text|json] [--fail-on LEVEL]

<app.json> is the application as Microsoft Graph returns it (GET /applications/{id}, or
`az ad app show --id ID`) or as the Entra admin center's manifest editor downloads it.

  --owners FILE            GET /applications/{id}/owners (its `value` list, or a bare list):
                           checks that two to five people own the registration
  --federated-credentials FILE
                           GET /applications/{id}/federatedIdentityCredentials: each
                           credential's issuer against --trusted-issuer
  --trusted-issuer URL     an issuer whose workloads may sign in as the app (repeatable:
                           GitHub Actions, your clusters, your tenant's managed identities)
  --expect FILE            the manifest the API declares (`--print-manifest` of warden's
                           registration): scopes and roles registered but unused, needed but
                           missing, or consented differently
  --verified-domain D      a domain verified in the tenant (repeatable); the application's
                           publisherDomain counts too. Redirect URIs and identifier URIs on
                           other hosts are findings (a host such as *.azurewebsites.net is not
                           yours for good: name it here to accept it)
  --tenant ID              the tenant's id, for identifier URIs of the form api://{tenantId}/...
  --as-of YYYY-MM-DD       judge credential dates as of this day (default: today, UTC)
  --format text|json       text (default) or JSON for CI
  --fail-on LEVEL          info, low (default), medium, high or invalid: exit 1 when a finding
                           is at or above it

exit codes: 0 no finding at or above --fail-on, 1 findings, 2 unreadable input or bad
arguments.

examples:
  az ad app show --id $APP_ID > app.json && warden audit app.json
  warden audit app.json --expect wanted.json --format json --fail-on medium
";

/// How much a finding matters, lowest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Severity {
    /// Worth knowing; never fails a run unless asked (`--fail-on info`).
    Info,
    Low,
    Medium,
    High,
    /// Entra would refuse the value, or it breaks a documented limit.
    Invalid,
}

impl Severity {
    fn name(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Invalid => "invalid",
        }
    }

    fn parse(text: &str) -> Option<Severity> {
        [
            Severity::Info,
            Severity::Low,
            Severity::Medium,
            Severity::High,
            Severity::Invalid,
        ]
        .into_iter()
        .find(|s| s.name() == text)
    }
}

/// One rule broken by one property.
#[derive(Debug, Clone)]
struct Finding {
    rule: &'static str,
    severity: Severity,
    property: String,
    message: String,
    why: &'static str,
    fix: &'static str,
}

/// What the rules read besides the application.
struct Context {
    owners: Option<Vec<Value>>,
    federated: Option<Vec<Value>>,
    trusted_issuers: Vec<String>,
    expect: Option<Value>,
    verified: Vec<String>,
    tenant: Option<String>,
    now: i64,
}

pub(crate) fn run(args: &[String]) -> u8 {
    let args = match Args::parse(
        args,
        &[
            "--owners",
            "--federated-credentials",
            "--trusted-issuer",
            "--expect",
            "--verified-domain",
            "--tenant",
            "--as-of",
            "--format",
            "--fail-on",
        ],
        &["--help", "-h"],
    ) {
        Ok(args) => args,
        Err(message) => return output::usage(&message, HELP),
    };
    if args.flag("--help") || args.flag("-h") {
        print!("{HELP}");
        return exit::OK;
    }
    let [path] = args.positional.as_slice() else {
        return output::usage("one application manifest is needed", HELP);
    };
    let from_stdin = std::iter::once(Some(path.as_str()))
        .chain(["--owners", "--federated-credentials", "--expect"].map(|o| args.value(o)))
        .filter(|input| *input == Some("-"))
        .count();
    if from_stdin > 1 {
        return output::usage("only one input can come from standard input (`-`)", HELP);
    }
    let Some(fail_on) = Severity::parse(args.value("--fail-on").unwrap_or("low")) else {
        return output::usage("--fail-on: info, low, medium, high or invalid", HELP);
    };
    let json_output = match args.value("--format").unwrap_or("text") {
        "text" => false,
        "json" => true,
        _ => return output::usage("--format: text or json", HELP),
    };
    let now = match args.value("--as-of") {
        None => now(),
        Some(day) => match parse_time(&format!("{day}T00:00:00Z")) {
            Some(at) if day.len() == 10 => at,
            _ => return output::usage("--as-of: a date, YYYY-MM-DD", HELP),
        },
    };
    let app = match read_json(path) {
        Ok(app) if app.is_object() => app,
        Ok(_) => return output::unreadable(path, "not a JSON object"),
        Err(code) => return code,
    };
    // The Azure AD Graph manifest format (retired): its names differ, and reading it as
    // Microsoft Graph's would pass rules it breaks.
    if [
        "oauth2Permissions",
        "replyUrlsWithType",
        "accessTokenAcceptedVersion",
    ]
    .iter()
    .any(|name| app.get(name).is_some())
    {
        return output::unreadable(
            path,
            "the Azure AD Graph manifest format; download the Microsoft Graph format \
             (`az ad app show`, or the admin center's Microsoft Graph manifest)",
        );
    }
    let owners = match read_list(&args, "--owners") {
        Ok(list) => list,
        Err(code) => return code,
    };
    let federated = match read_list(&args, "--federated-credentials") {
        Ok(list) => list,
        Err(code) => return code,
    };
    let expect = match args.value("--expect").map(read_json) {
        None => None,
        Some(Ok(manifest)) if manifest.is_object() => Some(manifest),
        Some(Ok(_)) => return output::unreadable("--expect", "not a JSON object"),
        Some(Err(code)) => return code,
    };
    let mut verified: Vec<String> = args
        .values("--verified-domain")
        .into_iter()
        .map(str::to_ascii_lowercase)
        .collect();
    if let Some(publisher) = app.get("publisherDomain").and_then(Value::as_str) {
        verified.push(publisher.to_ascii_lowercase());
    }
    let context = Context {
        owners,
        federated,
        trusted_issuers: args
            .values("--trusted-issuer")
            .into_iter()
            .map(str::to_owned)
            .collect(),
        expect,
        verified,
        tenant: args.value("--tenant").map(str::to_ascii_lowercase),
        now,
    };
    let mut findings = audit(&app, &context);
    findings.sort_by(|a, b| b.severity.cmp(&a.severity).then(a.rule.cmp(b.rule)));
    if json_output {
        println!("{}", to_json(&findings, fail_on));
    } else {
        print!("{}", to_text(&findings, Style::detect()));
    }
    if findings.iter().any(|f| f.severity >= fail_on) {
        exit::NO
    } else {
        exit::OK
    }
}

/// A list Graph returns (`{"value": [...]}`) or a bare list, from an option's file.
fn read_list(args: &Args, option: &str) -> Result<Option<Vec<Value>>, u8> {
    match args.value(option).map(read_json) {
        None => Ok(None),
        Some(Ok(Value::Array(list))) => Ok(Some(list)),
        Some(Ok(Value::Object(mut object))) => match object.remove("value") {
            Some(Value::Array(list)) => Ok(Some(list)),
            _ => Err(output::unreadable(option, "no `value` list")),
        },
        Some(Ok(_)) => Err(output::unreadable(option, "not a list")),
        Some(Err(code)) => Err(code),
    }
}

fn read_json(path: &str) -> Result<Value, u8> {
    let text = output::read_input(path).map_err(|e| output::unreadable(path, e))?;
    serde_json::from_str(&text).map_err(|e| output::unreadable(path, e))
}

/// Every rule, over the whole application.
fn audit(app: &Value, context: &Context) -> Vec<Finding> {
    let mut findings = Vec::new();
    credentials(app, context, &mut findings);
    federated_credentials(context, &mut findings);
    redirect_uris(app, context, &mut findings);
    implicit_flow(app, &mut findings);
    identifier_uris(app, context, &mut findings);
    token_version(app, context, &mut findings);
    property_lock(app, &mut findings);
    permissions(app, &mut findings);
    owners(context, &mut findings);
    mapped_claims(app, &mut findings);
    entry_cap(app, &mut findings);
    drift(app, context, &mut findings);
    findings
}

fn finding(
    rule: &'static str,
    severity: Severity,
    property: impl Into<String>,
    message: impl Into<String>,
    why: &'static str,
    fix: &'static str,
) -> Finding {
    Finding {
        rule,
        severity,
        property: property.into(),
        message: message.into(),
        why,
        fix,
    }
}

fn array<'a>(app: &'a Value, pointer: &str) -> &'a [Value] {
    app.pointer(pointer)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

fn string<'a>(value: &'a Value, pointer: &str) -> Option<&'a str> {
    value.pointer(pointer).and_then(Value::as_str)
}

fn multitenant(app: &Value) -> bool {
    !matches!(string(app, "/signInAudience"), None | Some("AzureADMyOrg"))
}

/// W1.2: credentials.
fn credentials(app: &Value, context: &Context, findings: &mut Vec<Finding>) {
    const DAY: i64 = 86_400;
    let passwords = array(app, "/passwordCredentials");
    let keys = array(app, "/keyCredentials");
    for (i, _) in passwords.iter().enumerate() {
        findings.push(finding(
            "password-credential",
            Severity::High,
            format!("passwordCredentials[{i}]"),
            "the application has a client secret",
            "Microsoft: \"Don't use password credentials\". A secret is copied into configuration, \
             leaks with it, and proves nothing about where it is used",
            "use a managed identity as a federated credential, workload identity federation, \
             or a certificate; then remove the secret",
        ));
    }
    for (i, key) in keys.iter().enumerate() {
        if string(key, "/type") == Some("Symmetric") {
            findings.push(finding(
                "symmetric-key",
                Severity::High,
                format!("keyCredentials[{i}].type"),
                "a symmetric key credential: a password by another name",
                "a symmetric key is a shared secret, with a password's weaknesses",
                "replace it with a certificate (AsymmetricX509Cert) or a federated credential",
            ));
        }
    }
    let mut active = 0;
    let all = passwords
        .iter()
        .map(|c| ("passwordCredentials", c))
        .chain(keys.iter().map(|c| ("keyCredentials", c)));
    let mut index = [0usize; 2];
    for (collection, credential) in all {
        let slot = usize::from(collection == "keyCredentials");
        let i = index[slot];
        index[slot] += 1;
        let end = string(credential, "/endDateTime").and_then(parse_time);
        let start = string(credential, "/startDateTime").and_then(parse_time);
        let property = format!("{collection}[{i}].endDateTime");
        match end {
            Some(end) if end < context.now => findings.push(finding(
                "expired-credential",
                Severity::Medium,
                property,
                "an expired credential is still registered",
                "expired and unused credentials should be removed: they clutter reviews and \
                 hide the ones in use",
                "remove it",
            )),
            Some(end) => {
                active += 1;
                if end < context.now + 30 * DAY {
                    findings.push(finding(
                        "expiring-credential",
                        Severity::Low,
                        property.clone(),
                        "a credential expires within 30 days",
                        "an application whose only credential expires stops getting tokens",
                        "add its successor now, move the workload to it, then remove this one",
                    ));
                }
                if let Some(start) = start
                    && end - start > 366 * DAY
                {
                    findings.push(finding(
                        "long-lived-credential",
                        Severity::Low,
                        property,
                        "a credential is valid for more than a year (366 days)",
                        "the longer a credential lives, the longer a leaked copy works",
                        "issue credentials for a year or less and rotate them, or use a \
                         federated credential, which has no lifetime to manage",
                    ));
                }
            }
            None => active += 1,
        }
    }
    if active > 2 {
        findings.push(finding(
            "many-credentials",
            Severity::Low,
            "passwordCredentials, keyCredentials",
            format!("{active} active credentials"),
            "Microsoft: \"Don't have many credentials on one application\"; each is a way in",
            "keep one credential, two while rotating",
        ));
    }
    let public_only = array(app, "/web/redirectUris").is_empty()
        && array(app, "/spa/redirectUris").is_empty()
        && !array(app, "/publicClient/redirectUris").is_empty();
    let fallback = app.pointer("/isFallbackPublicClient") == Some(&Value::Bool(true));
    if (public_only || fallback) && !(passwords.is_empty() && keys.is_empty()) {
        findings.push(finding(
            "public-client-credentials",
            Severity::Medium,
            "isFallbackPublicClient, publicClient.redirectUris",
            "a public client (a desktop, mobile or CLI app) has credentials",
            "a public client cannot keep a secret: a credential on it is exposed and unneeded",
            "remove the credentials, or split the confidential part into its own application",
        ));
    }
}

/// W1.2: federated credentials' issuers, against the issuers the operator trusts.
fn federated_credentials(context: &Context, findings: &mut Vec<Finding>) {
    let Some(credentials) = &context.federated else {
        return;
    };
    for (i, credential) in credentials.iter().enumerate() {
        let issuer = string(credential, "/issuer").unwrap_or_default();
        let property = format!("federatedIdentityCredentials[{i}].issuer");
        if context.trusted_issuers.is_empty() {
            findings.push(finding(
                "federated-credential-review",
                Severity::Info,
                property,
                format!("tokens from {issuer} may sign in as the application"),
                "only configure federated credentials from platforms you trust",
                "pass the issuers you trust with --trusted-issuer to check them",
            ));
        } else if !context.trusted_issuers.iter().any(|t| t == issuer) {
            findings.push(finding(
                "untrusted-federated-issuer",
                Severity::Medium,
                property,
                format!(
                    "tokens from {issuer}, not a trusted issuer, may sign in as the application"
                ),
                "whoever can get a token from that issuer with the credential's subject acts as \
                 the application",
                "remove the credential, or add the issuer to --trusted-issuer if you trust it",
            ));
        }
    }
}

/// Whether the personal Microsoft accounts sign in.
fn personal_accounts(app: &Value) -> bool {
    matches!(
        string(app, "/signInAudience"),
        Some("AzureADandPersonalMicrosoftAccount" | "PersonalMicrosoftAccount")
    )
}

/// W1.3: redirect URIs.
fn redirect_uris(app: &Value, context: &Context, findings: &mut Vec<Finding>) {
    let personal = personal_accounts(app);
    let invalid = |property: String, message: String, why: &'static str| {
        finding(
            "redirect-invalid",
            Severity::Invalid,
            property,
            message,
            why,
            "change or remove it",
        )
    };
    let mut loopback_seen: Vec<(String, String)> = Vec::new();
    let mut count = 0;
    for kind in ["web", "spa", "publicClient"] {
        for (i, uri) in array(app, &format!("/{kind}/redirectUris"))
            .iter()
            .enumerate()
        {
            count += 1;
            let Some(uri) = uri.as_str() else { continue };
            let property = format!("{kind}.redirectUris[{i}]");
            if uri.len() > 256 || uri.contains(['!', '$', '\'', '(', ')', ',', ';']) {
                findings.push(invalid(
                    property,
                    format!("{uri:?} is not a redirect URI Entra accepts"),
                    "Entra refuses redirect URIs over 256 characters or holding ! $ ' ( ) , ;",
                ));
                continue;
            }
            if uri.contains('*') {
                findings.push(if personal {
                    invalid(
                        property,
                        format!("{uri:?} holds a wildcard"),
                        "wildcards are not supported where personal Microsoft accounts sign in",
                    )
                } else {
                    finding(
                        "redirect-wildcard",
                        Severity::High,
                        property,
                        format!("{uri:?} holds a wildcard"),
                        "a wildcard sends codes and tokens to any host that matches, including \
                         ones an attacker sets up",
                        "list each redirect URI exactly",
                    )
                });
                continue;
            }
            if personal && uri.contains('?') {
                findings.push(invalid(
                    property,
                    format!("{uri:?} has a query string"),
                    "query strings are not allowed where personal Microsoft accounts sign in",
                ));
                continue;
            }
            if uri.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("urn:")) {
                findings.push(finding(
                    "redirect-urn",
                    Severity::Medium,
                    property,
                    format!("{uri:?} is a URN"),
                    "URN redirect URIs (the out-of-band flow) hand the code to whatever reads the \
                     screen",
                    "use a loopback redirect (http://localhost) for native apps",
                ));
                continue;
            }
            let Some((scheme, rest)) = uri.split_once("://") else {
                continue;
            };
            let scheme = scheme.to_ascii_lowercase();
            let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
            let path = &rest[authority.len()..];
            let host = authority
                .rsplit_once('@')
                .map_or(authority, |(_, host)| host);
            let (hostname, _) = split_port(host);
            let hostname = hostname.to_ascii_lowercase();
            if hostname == "[::1]" {
                findings.push(invalid(
                    property,
                    format!("{uri:?} names [::1]"),
                    "Entra does not support the IPv6 loopback address in redirect URIs",
                ));
                continue;
            }
            let loopback = matches!(hostname.as_str(), "localhost" | "127.0.0.1");
            if scheme == "http" && !loopback {
                findings.push(finding(
                    "redirect-http",
                    Severity::High,
                    property,
                    format!("{uri:?} is plain http"),
                    "codes and tokens sent over plain http can be read and changed on the way",
                    "use https (plain http is for loopback addresses only)",
                ));
                continue;
            }
            if loopback {
                if kind == "web" {
                    findings.push(finding(
                        "redirect-loopback",
                        Severity::Low,
                        property.clone(),
                        format!("{uri:?} points at this machine, on a web application"),
                        "a loopback redirect on a production web app serves whoever listens on \
                         the user's machine",
                        "keep loopback redirects on a separate development registration",
                    ));
                }
                // Entra ignores a loopback redirect's port; the path is case-sensitive.
                let without_port = format!("{scheme}://{hostname}{path}");
                if let Some((_, other)) = loopback_seen
                    .iter()
                    .find(|(key, original)| *key == without_port && original != uri)
                {
                    findings.push(finding(
                        "redirect-loopback-ports",
                        Severity::Low,
                        property,
                        format!("{uri:?} differs from {other:?} only by its port"),
                        "Entra ignores the port of a loopback redirect when it matches one: \
                         the entries are the same",
                        "keep one of them",
                    ));
                } else {
                    loopback_seen.push((without_port, uri.to_owned()));
                }
                continue;
            }
            if scheme == "https" && !context.verified.is_empty() && !owned(&hostname, context) {
                findings.push(finding(
                    "redirect-unverified-host",
                    Severity::Medium,
                    property,
                    format!("{hostname} is not a verified domain of the tenant"),
                    "a redirect to a host the organisation does not own (or lets lapse) hands \
                     codes and tokens to whoever holds it",
                    "redirect only to hosts under the tenant's verified domains, or pass the \
                     domain with --verified-domain if it is one",
                ));
            }
        }
    }
    let limit = if personal { 100 } else { 256 };
    if count > limit {
        findings.push(invalid(
            "web, spa, publicClient redirectUris".to_owned(),
            format!("{count} redirect URIs, over {limit}"),
            "Entra accepts at most 256 redirect URIs, 100 where personal Microsoft accounts \
             sign in",
        ));
    }
}

fn split_port(host: &str) -> (&str, Option<&str>) {
    if host.starts_with('[') {
        return match host.split_once("]:") {
            Some((address, port)) => (&host[..address.len() + 1], Some(port)),
            None => (host, None),
        };
    }
    match host.rsplit_once(':') {
        Some((name, port)) => (name, Some(port)),
        None => (host, None),
    }
}

/// Whether `host` is a verified domain or under one.
fn owned(host: &str, context: &Context) -> bool {
    context
        .verified
        .iter()
        .any(|domain| host == domain || host.ends_with(&format!(".{domain}")))
}

/// W1.4: the implicit grant.
fn implicit_flow(app: &Value, findings: &mut Vec<Finding>) {
    let on = |name| {
        app.pointer(&format!("/web/implicitGrantSettings/{name}")) == Some(&Value::Bool(true))
    };
    if on("enableAccessTokenIssuance") {
        findings.push(finding(
            "implicit-access-tokens",
            Severity::High,
            "web.implicitGrantSettings.enableAccessTokenIssuance",
            "access tokens can be issued through the implicit flow",
            "the implicit flow returns tokens in the URL, where history, logs and referrers \
             keep them; Microsoft: never use access tokens with implicit flows",
            "use the authorization code flow with PKCE and turn this off",
        ));
    }
    if on("enableIdTokenIssuance") {
        findings.push(finding(
            "implicit-id-tokens",
            Severity::Medium,
            "web.implicitGrantSettings.enableIdTokenIssuance",
            "ID tokens can be issued through the implicit flow",
            "turn implicit issuance off unless an application still needs it, and then give \
             that application its own registration",
            "use the authorization code flow with PKCE and turn this off",
        ));
    }
}

fn is_guid(text: &str) -> bool {
    text.len() == 36
        && text.bytes().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}

/// Whether an `api://` authority names the tenant: its id when given, any GUID otherwise.
fn tenant_like(part: &str, context: &Context) -> bool {
    match &context.tenant {
        Some(tenant) => part.eq_ignore_ascii_case(tenant),
        None => is_guid(part),
    }
}

/// Whether an identifier URI is one of the two default forms.
fn default_uri(uri: &str, app_id: &str, context: &Context) -> bool {
    match uri.strip_prefix("api://") {
        Some(rest) => match rest.split_once('/') {
            None => rest.eq_ignore_ascii_case(app_id),
            Some((tenant, id)) => tenant_like(tenant, context) && id.eq_ignore_ascii_case(app_id),
        },
        None => false,
    }
}

/// W1.5: identifier URIs.
fn identifier_uris(app: &Value, context: &Context, findings: &mut Vec<Finding>) {
    let app_id = string(app, "/appId").unwrap_or_default();
    for (i, uri) in array(app, "/identifierUris").iter().enumerate() {
        let Some(uri) = uri.as_str() else { continue };
        let property = format!("identifierUris[{i}]");
        if uri.ends_with('/') {
            findings.push(finding(
                "identifier-uri-trailing-slash",
                Severity::Invalid,
                property,
                format!("{uri:?} ends with `/`"),
                "Entra refuses identifier URIs ending with a slash",
                "remove the trailing slash",
            ));
            continue;
        }
        if uri.contains('*') {
            findings.push(finding(
                "identifier-uri-wildcard",
                Severity::High,
                property,
                format!("{uri:?} holds a wildcard"),
                "an identifier URI names one API; a wildcard names any",
                "use api://{appId}",
            ));
            continue;
        }
        let secure = if let Some(rest) = uri.strip_prefix("api://") {
            match rest.split_once('/') {
                None => rest.eq_ignore_ascii_case(app_id),
                // A GUID after `api://` must be the application's or the tenant's id.
                Some((first, _))
                    if is_guid(first)
                        && !first.eq_ignore_ascii_case(app_id)
                        && !tenant_like(first, context) =>
                {
                    false
                }
                Some((first, second)) => {
                    tenant_like(first, context) || second.eq_ignore_ascii_case(app_id)
                }
            }
        } else if let Some(rest) = uri.strip_prefix("https://") {
            let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
            let host = host.to_ascii_lowercase();
            // https://{verified}/{path}, https://{name}.{verified}[/{path}]; the tenant's
            // initial domain ({tenant}.onmicrosoft.com) is a verified domain like any other.
            context.verified.iter().any(|domain| {
                (host == *domain && !path.is_empty()) || host.ends_with(&format!(".{domain}"))
            })
        } else {
            false
        };
        if !secure {
            findings.push(finding(
                "identifier-uri-format",
                Severity::High,
                property,
                format!("{uri:?} holds neither the app id, the tenant id nor a verified domain"),
                "an identifier URI anyone could also claim lets another application pose as the \
                 audience of your tokens; Microsoft's default policy refuses new ones",
                "use api://{appId} (or api://{tenantId}/{appId}), or https:// under a verified \
                 domain",
            ));
        }
    }
}

/// W1.6: the access token version.
fn token_version(app: &Value, context: &Context, findings: &mut Vec<Finding>) {
    let version = app
        .pointer("/api/requestedAccessTokenVersion")
        .and_then(Value::as_i64);
    let exposes_api = !array(app, "/identifierUris").is_empty()
        || !array(app, "/api/oauth2PermissionScopes").is_empty()
        || !array(app, "/appRoles").is_empty();
    if version == Some(2) || !exposes_api {
        return;
    }
    let personal = personal_accounts(app);
    let app_id = string(app, "/appId").unwrap_or_default();
    let custom = array(app, "/identifierUris")
        .iter()
        .filter_map(Value::as_str)
        .any(|uri| !default_uri(uri, app_id, context));
    let (severity, message) = if personal {
        (
            Severity::Invalid,
            "personal Microsoft accounts sign in, which needs v2.0 access tokens",
        )
    } else if custom {
        (
            Severity::High,
            "v1.0 access tokens with an identifier URI other than the default",
        )
    } else {
        (Severity::Low, "v1.0 access tokens")
    };
    findings.push(finding(
        "access-token-version",
        severity,
        "api.requestedAccessTokenVersion",
        message,
        "v2.0 tokens carry the application id as their audience and the claims warden and \
         Microsoft's libraries expect; v1.0 tokens with a custom URI break audience checks",
        "set api.requestedAccessTokenVersion to 2, and accept only the application id as \
         audience",
    ));
}

/// W1.7: the app instance property lock.
fn property_lock(app: &Value, findings: &mut Vec<Finding>) {
    let lock = app.pointer("/servicePrincipalLockConfiguration");
    let on = |name: &str| lock.and_then(|l| l.get(name)) == Some(&Value::Bool(true));
    let enabled = on("isEnabled");
    // Every property, or each sensitive one by name.
    let all = on("allProperties")
        || (on("credentialsWithUsageVerify")
            && on("credentialsWithUsageSign")
            && on("tokenEncryptionKeyId"));
    if enabled && all {
        return;
    }
    findings.push(finding(
        "property-lock",
        if multitenant(app) {
            Severity::High
        } else {
            Severity::Medium
        },
        "servicePrincipalLockConfiguration",
        if enabled {
            "the app instance property lock does not cover every property"
        } else {
            "the app instance property lock is off"
        },
        "without it, whoever administers a tenant that uses the app can add credentials to its \
         service principal there and act as the app",
        "enable servicePrincipalLockConfiguration with allProperties",
    ));
}

/// W1.8: permissions the application asks of other APIs.
fn permissions(app: &Value, findings: &mut Vec<Finding>) {
    for (i, resource) in array(app, "/requiredResourceAccess").iter().enumerate() {
        for (j, access) in array(resource, "/resourceAccess").iter().enumerate() {
            if string(access, "/type") == Some("Role") {
                findings.push(finding(
                    "app-only-permission",
                    Severity::Info,
                    format!("requiredResourceAccess[{i}].resourceAccess[{j}]"),
                    format!(
                        "an application permission {} of {}",
                        string(access, "/id").unwrap_or("?"),
                        string(resource, "/resourceAppId").unwrap_or("?")
                    ),
                    "application permissions act with no user and for the whole tenant",
                    "prefer delegated permissions; keep this one only if no user is involved",
                ));
            }
        }
    }
}

/// W1.9: owners.
fn owners(context: &Context, findings: &mut Vec<Finding>) {
    let Some(owners) = &context.owners else {
        return;
    };
    let count = owners.len();
    if count < 2 {
        findings.push(finding(
            "owners-too-few",
            Severity::Low,
            "owners",
            format!("{count} owner(s)"),
            "a registration with one owner has no one to review it, or to act when that owner \
             leaves",
            "give it two to five owners and review them every few months",
        ));
    } else if count > 5 {
        findings.push(finding(
            "owners-too-many",
            Severity::Low,
            "owners",
            format!("{count} owners"),
            "every owner can change the application's credentials and redirect URIs",
            "keep a minimal set of owners",
        ));
    }
}

/// W1.10: accepting mapped claims.
fn mapped_claims(app: &Value, findings: &mut Vec<Finding>) {
    if app.pointer("/api/acceptMappedClaims") == Some(&Value::Bool(true)) && multitenant(app) {
        findings.push(finding(
            "accept-mapped-claims",
            Severity::High,
            "api.acceptMappedClaims",
            "a multitenant application accepts mapped claims",
            "another tenant's claims-mapping policy can then put any value in the claims your \
             API trusts",
            "set acceptMappedClaims to false (or null) and use a custom signing key if claims \
             mapping is needed",
        ));
    }
}

/// W1.10: the 1,200-entry cap across collections.
fn entry_cap(app: &Value, findings: &mut Vec<Finding>) {
    let total: usize = [
        "/appRoles",
        "/keyCredentials",
        "/passwordCredentials",
        "/identifierUris",
        "/api/oauth2PermissionScopes",
        "/web/redirectUris",
        "/spa/redirectUris",
        "/publicClient/redirectUris",
        "/requiredResourceAccess",
    ]
    .iter()
    .map(|pointer| array(app, pointer).len())
    .sum();
    if total > 1200 {
        findings.push(finding(
            "too-many-entries",
            Severity::Invalid,
            "appRoles, keyCredentials, identifierUris, redirectUris, oauth2PermissionScopes, …",
            format!("{total} entries across the collections"),
            "Entra caps these collections together at 1,200 entries",
            "remove unused entries",
        ));
    }
}

/// Drift between the registration and the permissions the API declares (`--expect`).
fn drift(app: &Value, context: &Context, findings: &mut Vec<Finding>) {
    let Some(expect) = &context.expect else {
        return;
    };
    for (pointer, kind) in [
        ("/api/oauth2PermissionScopes", "scope"),
        ("/appRoles", "role"),
    ] {
        let registered = array(app, pointer);
        let wanted = array(expect, pointer);
        let enabled: BTreeSet<&str> = registered
            .iter()
            .filter(|p| p.get("isEnabled") == Some(&Value::Bool(true)))
            .filter_map(|p| string(p, "/value"))
            .collect();
        let wanted_values: BTreeSet<&str> =
            wanted.iter().filter_map(|p| string(p, "/value")).collect();
        for value in enabled.difference(&wanted_values) {
            findings.push(finding(
                if kind == "scope" {
                    "unused-scope"
                } else {
                    "unused-role"
                },
                Severity::Medium,
                pointer.trim_start_matches('/').replace('/', "."),
                format!("the {kind} `{value}` is registered, but the API requires it nowhere"),
                "a permission that opens nothing can still be requested, consented and \
                 assigned: least privilege offers only what the API uses",
                "disable it, then remove it (warden manifest diff --patches writes both steps)",
            ));
        }
        for value in wanted_values.difference(&enabled) {
            findings.push(finding(
                if kind == "scope" {
                    "missing-scope"
                } else {
                    "missing-role"
                },
                Severity::High,
                pointer.trim_start_matches('/').replace('/', "."),
                format!(
                    "the API requires the {kind} `{value}`, which is not registered (or disabled)"
                ),
                "no token can carry it: the routes that require it refuse everyone",
                "apply the API's manifest (warden manifest diff --patches)",
            ));
        }
        if kind == "role" {
            for wanted in wanted {
                let Some(value) = string(wanted, "/value") else {
                    continue;
                };
                let members = |role: &Value| -> BTreeSet<String> {
                    array(role, "/allowedMemberTypes")
                        .iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect()
                };
                let declared = members(wanted);
                let registered_members = registered
                    .iter()
                    .find(|r| string(r, "/value") == Some(value))
                    .map(members);
                if let Some(registered_members) = registered_members
                    && !registered_members.is_subset(&declared)
                {
                    findings.push(finding(
                        "role-members-drift",
                        Severity::Medium,
                        "appRoles",
                        format!(
                            "`{value}` may be assigned to {:?}; the API declares {:?}",
                            registered_members, declared
                        ),
                        "a role assignable to more kinds of members than the API expects \
                         reaches callers it was not designed for (a user holding an \
                         application permission)",
                        "set allowedMemberTypes as the API declares it",
                    ));
                }
            }
        }
        if kind == "scope" {
            for wanted in wanted {
                let (Some(value), Some(consent)) =
                    (string(wanted, "/value"), string(wanted, "/type"))
                else {
                    continue;
                };
                let registered_consent = registered
                    .iter()
                    .find(|p| string(p, "/value") == Some(value))
                    .and_then(|p| string(p, "/type"));
                if consent == "Admin" && registered_consent == Some("User") {
                    findings.push(finding(
                        "scope-consent-drift",
                        Severity::High,
                        "api.oauth2PermissionScopes",
                        format!("`{value}` needs admin consent, but users may consent to it here"),
                        "a user can then grant any application what only an administrator \
                         should",
                        "set its type to Admin",
                    ));
                }
            }
        }
    }
}

fn to_text(findings: &[Finding], style: Style) -> String {
    let mut text = String::new();
    for f in findings {
        let label = format!("{:<8}", f.severity.name().to_ascii_uppercase());
        let label = match f.severity {
            Severity::Invalid | Severity::High => style.red(&label),
            Severity::Medium => style.yellow(&label),
            Severity::Low | Severity::Info => style.dim(&label),
        };
        let _ = writeln!(text, "{label} {}  {}", style.bold(f.rule), f.property);
        let _ = writeln!(text, "         {}", f.message);
        let _ = writeln!(text, "         why: {}", f.why);
        let _ = writeln!(text, "         fix: {}\n", f.fix);
    }
    let count = |s: Severity| findings.iter().filter(|f| f.severity == s).count();
    let _ = writeln!(
        text,
        "{} finding(s): {} invalid, {} high, {} medium, {} low, {} info",
        findings.len(),
        count(Severity::Invalid),
        count(Severity::High),
        count(Severity::Medium),
        count(Severity::Low),
        count(Severity::Info)
    );
    text
}

fn to_json(findings: &[Finding], fail_on: Severity) -> String {
    let list: Vec<Value> = findings
        .iter()
        .map(|f| {
            json!({
                "rule": f.rule,
                "severity": f.severity.name(),
                "property": f.property,
                "message": f.message,
                "why": f.why,
                "fix": f.fix,
            })
        })
        .collect();
    let failed = findings.iter().any(|f| f.severity >= fail_on);
    serde_json::to_string_pretty(&json!({
        "findings": list,
        "failOn": fail_on.name(),
        "failed": failed,
    }))
    .unwrap_or_default()
}

/// Now, in Unix seconds.
fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// An ISO 8601 date and time as Graph writes them (`2026-01-31T10:00:00Z`, with or without
/// fractions of a second, `Z` or an offset) in Unix seconds.
fn parse_time(text: &str) -> Option<i64> {
    let number = |s: &str| -> Option<i64> {
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    let (date, time) = text.split_once('T')?;
    let mut parts = date.splitn(3, '-');
    let (year, month, day) = (
        number(parts.next()?)?,
        number(parts.next()?)?,
        number(parts.next()?)?,
    );
    let (clock, offset) = if let Some(clock) = time.strip_suffix('Z') {
        (clock, 0)
    } else {
        let at = time.rfind(['+', '-'])?;
        let (clock, zone) = time.split_at(at);
        let sign = if zone.starts_with('-') { -1 } else { 1 };
        // `+01:00` or `+0100`.
        let digits = zone[1..].replace(':', "");
        if digits.len() != 4 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let (h, m) = (number(&digits[..2])?, number(&digits[2..])?);
        if h > 23 || m > 59 {
            return None;
        }
        (clock, sign * (h * 3600 + m * 60))
    };
    let clock = clock.split('.').next()?;
    let mut hms = clock.splitn(3, ':');
    let (h, m, s) = (
        number(hms.next()?)?,
        number(hms.next()?)?,
        number(hms.next()?)?,
    );
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let days_in_month = match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    // Years of four digits: nothing overflows.
    if !(1..=9999).contains(&year)
        || !(1..=12).contains(&month)
        || !(1..=days_in_month).contains(&day)
        || h > 23
        || m > 59
        || s > 60
    {
        return None;
    }
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + h * 3600 + m * 60 + s - offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_graphs_dates() {
        assert_eq!(parse_time("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_time("2026-12-07T00:00:00Z"), Some(1_796_601_600));
        assert_eq!(
            parse_time("2026-12-07T01:00:00.1234567+01:00"),
            Some(1_796_601_600)
        );
        assert_eq!(parse_time("2000-02-29T12:00:00Z"), Some(951_825_600));
        for bad in [
            "2026-13-01T00:00:00Z",
            "2026-12-07",
            "yesterday",
            "2026-12-07T25:00:00Z",
        ] {
            assert_eq!(parse_time(bad), None, "{bad}");
        }
    }
}
