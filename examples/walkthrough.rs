//! The walkthrough `cargo run --example orders_api` prints with its embedded issuer: a token for
//! each kind of caller, then requests to paste, each with the status it gets when the requests run
//! in the printed order. tests/demo.rs runs [`STEPS`] in that order against the demo and checks
//! every status, so the text and the demo cannot drift apart.

use std::fmt::Write as _;

use warden_testing::FakeIssuer;

/// Carol's object id (`oid`): the user the walkthrough revokes.
pub const CAROL_OID: &str = "0c0c0c0c-0000-4000-8000-00000000c0c0";

/// One request of the walkthrough and the status it gets.
#[derive(Debug, Clone, Copy)]
pub struct Step {
    /// Printed on its own line before the request, when not empty.
    pub heading: &'static str,
    /// The HTTP method.
    pub method: &'static str,
    /// The path, from the API's base URL.
    pub path: &'static str,
    /// The shell variable holding the bearer token (see [`tokens`]), if the request sends one.
    pub token: Option<&'static str>,
    /// A JSON body, if any.
    pub body: Option<&'static str>,
    /// The status the request gets.
    pub status: u16,
    /// Why.
    pub note: &'static str,
    /// Text the answer (its `WWW-Authenticate` or its body) shows, when not empty.
    pub shows: &'static str,
}

const fn step(
    method: &'static str,
    path: &'static str,
    token: Option<&'static str>,
    status: u16,
    note: &'static str,
) -> Step {
    Step {
        heading: "",
        method,
        path,
        token,
        body: None,
        status,
        note,
        shows: "",
    }
}

const fn with_body(mut step: Step, body: &'static str) -> Step {
    step.body = Some(body);
    step
}

const fn showing(mut step: Step, shows: &'static str) -> Step {
    step.shows = shows;
    step
}

const fn after(heading: &'static str, mut step: Step) -> Step {
    step.heading = heading;
    step
}

/// The requests, in the order they are printed and must be run.
pub const STEPS: &[Step] = &[
    step("GET", "/health", None, 200, "no token needed"),
    showing(
        step("GET", "/orders", None, 401, "no token"),
        r#"Bearer realm="orders", resource_metadata=""#,
    ),
    showing(
        step(
            "GET",
            "/.well-known/oauth-protected-resource",
            None,
            200,
            "RFC 9728: where a client gets a token",
        ),
        r#""scopes_supported":["Orders.Read","Orders.Write","Reports.Read"]"#,
    ),
    step("GET", "/me", Some("READER"), 200, "who you are"),
    step("GET", "/orders", Some("READER"), 200, "scope Orders.Read"),
    showing(
        with_body(
            step("POST", "/orders", Some("READER"), 403, "needs Orders.Write"),
            r#"{"item":"book"}"#,
        ),
        r#"error="insufficient_scope", scope="Orders.Write""#,
    ),
    with_body(
        step("POST", "/orders", Some("WRITER"), 201, "order 1, bob's"),
        r#"{"item":"book"}"#,
    ),
    with_body(
        step("POST", "/orders", Some("CAE"), 201, "order 2, carol's"),
        r#"{"item":"lamp"}"#,
    ),
    step(
        "GET",
        "/orders",
        Some("READER"),
        200,
        "alice sees none of them",
    ),
    step(
        "GET",
        "/reports",
        Some("ADMIN"),
        200,
        "app permission Reports.Read.All",
    ),
    step(
        "DELETE",
        "/orders/1",
        Some("ADMIN"),
        204,
        "app role Orders.Admin deletes bob's order",
    ),
    showing(
        step(
            "POST",
            "/orders/2/refund",
            Some("CAE"),
            401,
            "claims challenge for authentication context c1",
        ),
        r#"error="insufficient_claims", claims="eyJhY2Nlc3NfdG9rZW4iOnsiYWNycyI6eyJlc3NlbnRpYWwiOnRydWUsInZhbHVlIjoiYzEifX19""#,
    ),
    showing(
        step(
            "POST",
            "/orders/2/refund",
            Some("CAE_C1"),
            200,
            "stepped up: carol's order 2 refunded",
        ),
        r#"{"refunded":2}"#,
    ),
    after(
        "Continuous Access Evaluation: revoke carol, and her token gets a claims challenge.",
        with_body(
            step(
                "POST",
                "/admin/revocations",
                Some("ADMIN"),
                204,
                "carol revoked",
            ),
            r#"{"subject":"0c0c0c0c-0000-4000-8000-00000000c0c0"}"#,
        ),
    ),
    showing(
        step(
            "GET",
            "/orders",
            Some("CAE"),
            401,
            "insufficient_claims: get a token issued after the revocation",
        ),
        r#"error="insufficient_claims""#,
    ),
    step("GET", "/orders", Some("WRITER"), 200, "bob is not revoked"),
];

/// The walkthrough's callers, as shell variable and token (valid for one hour).
pub fn tokens(issuer: &FakeIssuer) -> Vec<(&'static str, String)> {
    let carol = || {
        issuer
            .token()
            .subject("carol")
            .object_id(CAROL_OID)
            .client("cae-capable-spa")
            .scopes(["Orders.Read", "Orders.Write"])
            .cae_capable()
    };
    vec![
        (
            "READER",
            issuer
                .token()
                .subject("alice")
                .scopes(["Orders.Read", "Reports.Read"])
                .sign(),
        ),
        (
            "WRITER",
            issuer
                .token()
                .subject("bob")
                .object_id("0b0b0b0b-0000-4000-8000-00000000b0b0")
                .scopes(["Orders.Read", "Orders.Write"])
                .sign(),
        ),
        (
            "ADMIN",
            issuer
                .token()
                .app_only()
                .client("orders-admin-app")
                .roles(["Orders.Admin", "Reports.Read.All", "Revocations.Write"])
                .sign(),
        ),
        ("CAE", carol().sign()),
        ("CAE_C1", carol().acrs(["c1"]).sign()),
    ]
}

/// The curl command of a step, with its status and note as a comment.
pub fn curl(step: &Step, base: &str) -> String {
    let mut line = String::from("curl -i");
    if step.method != "GET" {
        let _ = write!(line, " -X {}", step.method);
    }
    if let Some(token) = step.token {
        let _ = write!(line, r#" -H "Authorization: Bearer ${token}""#);
    }
    if let Some(body) = step.body {
        let _ = write!(
            line,
            " -H 'content-type: application/json' \\\n       -d '{body}'"
        );
    }
    let _ = write!(
        line,
        " {base}{}   # {}: {}",
        step.path, step.status, step.note
    );
    line
}

/// The whole text the demo prints; with the Shared Signals push credential, the lines that
/// revoke a user through a pushed security event too.
pub fn text(issuer: &FakeIssuer, base: &str, push_token: Option<&str>) -> String {
    let mut out = format!(
        "\nwarden demo: the Orders API on {base}\nEmbedded fake Microsoft Entra issuer: {}\n\
         (keys discovered over HTTP from {}/common/v2.0/.well-known/openid-configuration)\n\n\
         Paste these into a shell (tokens are valid for one hour), then run the requests in order:\n\n",
        issuer.issuer_url(),
        issuer.base_url(),
    );
    for (name, token) in tokens(issuer) {
        let _ = writeln!(out, "  export {name}={token}");
    }
    for step in STEPS {
        if !step.heading.is_empty() {
            let _ = writeln!(out, "\n{}\n", step.heading);
        } else if std::ptr::eq(step, &STEPS[0]) {
            out.push('\n');
        }
        let _ = writeln!(out, "  {}", curl(step, base));
    }
    out.push_str(&dpop_text(issuer, base));
    if let Some(push_token) = push_token {
        out.push_str(&shared_signals_text(issuer, base, push_token));
    }
    out.push_str("\nPress Ctrl-C to stop.\n");
    out
}

/// The DPoP lines: a token bound to a fresh key and one proof for `GET /orders`, which the
/// demo accepts once, within a minute (RFC 9449); the same token as a bearer token is refused.
pub fn dpop_text(issuer: &FakeIssuer, base: &str) -> String {
    let Ok(key) = warden_testing::DpopKey::generate() else {
        return String::new();
    };
    let token = issuer
        .token()
        .subject("dora")
        .object_id("0d0d0d0d-0000-4000-8000-00000000d0d0")
        .scopes(["Orders.Read"])
        .dpop_bound(&key)
        .sign();
    let proof = key
        .proof("GET", &format!("{base}/orders"))
        .access_token(&token)
        .sign();
    format!(
        "\nDPoP (RFC 9449): a token bound to a key, with a proof signed by that key (one use, within a minute):\n\n\
         \x20 export DPOP_TOKEN={token}\n\
         \x20 export DPOP_PROOF={proof}\n\
         \x20 curl -i -H \"Authorization: DPoP $DPOP_TOKEN\" -H \"DPoP: $DPOP_PROOF\" {base}/orders   # 200, once; again: 401 invalid_dpop_proof (replayed)\n\
         \x20 curl -i -H \"Authorization: Bearer $DPOP_TOKEN\" {base}/orders   # 401: a DPoP-bound token is useless without its key\n"
    )
}

/// The Shared Signals lines: erin's token works, the identity provider pushes a CAEP
/// `session-revoked` event for her (a SET signed by the embedded issuer, as transmitter), and
/// her token is then refused, with no admin call.
pub fn shared_signals_text(issuer: &FakeIssuer, base: &str, push_token: &str) -> String {
    let issued = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs() as i64);
    let token = issuer
        .token()
        .subject("erin")
        .object_id("0e0e0e0e-0000-4000-8000-00000000e0e0")
        .scopes(["Orders.Read"])
        .issued_at(issued - 5)
        .sign();
    let set = issuer.security_event().user("erin").sign();
    format!(
        "\nShared Signals (CAEP): the identity provider revokes erin's session with a pushed security event, no admin call:\n\n\
         \x20 export ERIN={token}\n\
         \x20 export SET={set}\n\
         \x20 curl -i -H \"Authorization: Bearer $ERIN\" {base}/orders   # 200: erin's token works\n\
         \x20 curl -i -X POST -H \"Authorization: Bearer {push_token}\" -H \"Content-Type: application/secevent+jwt\" --data \"$SET\" {base}/ssf/events   # 202: verified and applied\n\
         \x20 curl -i -H \"Authorization: Bearer $ERIN\" {base}/orders   # 401 token revoked: issued before the event\n"
    )
}
