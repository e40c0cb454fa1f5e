//! The fake issuer's pages as a person uses them, in real headless Chromium (Debian's `chromium`
//! and `chromium-driver`, driven over WebDriver): sign in through the login page, land on the
//! client's redirect with a code, exchange it and call the Orders demo with the token; and mint
//! a token on the debugger page that the demo accepts. Each test starts its own chromedriver on
//! a free loopback port and stops it. Where it is missing, running as root installs Debian's
//! packages; otherwise the tests fail, saying how to install them. Screenshots of both pages are written to the target directory (docs/images
//! holds copies).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use warden_examples::orders;
use warden_testing::{DEFAULT_TENANT, FakeIssuer};

/// A redirect's query parameters.
type Query = Vec<(String, String)>;

/// RFC 7636 Appendix B.
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

/// chromedriver and a headless Chromium session; both end when it is dropped.
struct Browser {
    client: Client,
    _driver: tokio::process::Child,
}

/// chromedriver's path: on the `PATH`, or Debian's `chromium` and `chromium-driver` installed
/// now when running as root where `apt-get` exists (as for redis-server), once per process.
fn chromedriver() -> std::path::PathBuf {
    static FOUND: std::sync::Mutex<Option<std::path::PathBuf>> = std::sync::Mutex::new(None);
    let find = || {
        std::env::var_os("PATH")
            .map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
            .unwrap_or_default()
            .into_iter()
            .chain([std::path::PathBuf::from("/usr/bin")])
            .map(|dir| dir.join("chromedriver"))
            .find(|candidate| candidate.is_file())
    };
    let mut found = FOUND.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(path) = found.clone().or_else(find) {
        *found = Some(path.clone());
        return path;
    }
    let root = std::process::Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| out.stdout.trim_ascii() == b"0");
    assert!(
        root && std::path::Path::new("/usr/bin/apt-get").exists(),
        "chromedriver runs the browser tests: `sudo apt-get install chromium chromium-driver` \
         (the README says so)"
    );
    eprintln!("chromedriver is missing: installing Debian's chromium and chromium-driver");
    let apt = |args: &[&str]| {
        std::process::Command::new("apt-get")
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .stdout(std::process::Stdio::null())
            .status()
            .is_ok_and(|status| status.success())
    };
    let packages = [
        "install",
        "-y",
        "-qq",
        "--no-install-recommends",
        "chromium",
        "chromium-driver",
    ];
    if !apt(&packages) {
        let _ = apt(&["update", "-qq"]);
        apt(&packages);
    }
    *found = find();
    found.clone().expect("apt-get installed chromium-driver")
}

async fn browser() -> Browser {
    let chromedriver = tokio::task::spawn_blocking(chromedriver).await.unwrap();
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let driver = tokio::process::Command::new(chromedriver)
        .arg(format!("--port={port}"))
        .kill_on_drop(true)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "goog:chromeOptions".to_owned(),
        json!({"args": [
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--window-size=900,1100",
        ]}),
    );
    let url = format!("http://127.0.0.1:{port}");
    let started = Instant::now();
    loop {
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        match ClientBuilder::new(connector)
            .capabilities(capabilities.clone())
            .connect(&url)
            .await
        {
            Ok(client) => {
                return Browser {
                    client,
                    _driver: driver,
                };
            }
            Err(error) if started.elapsed() < Duration::from_secs(20) => {
                let _ = error;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(error) => panic!("no browser session within 20 s: {error}"),
        }
    }
}

impl Browser {
    /// Ends the session once the test has asserted everything. Quitting Chromium is teardown, not
    /// behaviour under test: on a loaded machine chromedriver can time out doing it (a CI run
    /// failed there after every assertion had passed), so a failure is reported, and the driver,
    /// which kills what it started, is killed on drop either way.
    async fn close(self) {
        if let Err(error) = self.client.clone().close().await {
            eprintln!("closing the browser session failed (teardown only): {error}");
        }
    }

    async fn field(&self, css: &str) -> fantoccini::elements::Element {
        self.client
            .wait()
            .at_most(Duration::from_secs(10))
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"))
    }

    async fn type_into(&self, css: &str, text: &str) {
        let field = self.field(css).await;
        field.clear().await.unwrap();
        field.send_keys(text).await.unwrap();
    }

    /// Waits until the element's text satisfies `done`, and returns it.
    async fn text_when(&self, css: &str, done: impl Fn(&str) -> bool) -> String {
        let started = Instant::now();
        loop {
            let text = match self.field(css).await.text().await {
                Ok(text) => text,
                // The page replaced the element between finding and reading it (a navigation
                // or a re-render while the test polls): find it again.
                Err(fantoccini::error::CmdError::Standard(error))
                    if error.error == fantoccini::error::ErrorStatus::StaleElementReference =>
                {
                    assert!(
                        started.elapsed() < Duration::from_secs(10),
                        "{css} keeps going stale"
                    );
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
                Err(error) => panic!("{css}: {error}"),
            };
            if done(&text) {
                return text;
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "{css} is still {text:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn screenshot(&self, name: &str) {
        let png = self.client.screenshot().await.unwrap();
        let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(name), png).unwrap();
    }
}

/// The Orders demo, its embedded fake Entra issuer, on loopback.
async fn demo() -> (FakeIssuer, String) {
    let (issuer, warden) = orders::embedded_issuer().await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let _ = axum::serve(listener, orders::app(warden)).await;
    });
    (issuer, base)
}

async fn call_orders(demo: &str, token: &str) -> u16 {
    reqwest::Client::new()
        .get(format!("{demo}/orders"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_person_signs_in_on_the_login_page_and_calls_the_demo() {
    let (issuer, demo) = demo().await;
    // The client's redirect URI: a loopback listener that keeps what it receives.
    let received: Arc<Mutex<Option<Query>>> = Arc::default();
    let callback = {
        let received = received.clone();
        axum::Router::new().route(
            "/callback",
            axum::routing::get(
                move |axum::extract::Query(query): axum::extract::Query<Query>| {
                    *received.lock().unwrap() = Some(query);
                    async { "Signed in: the client has its code." }
                },
            ),
        )
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let redirect = format!("http://{}/callback", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let _ = axum::serve(listener, callback).await;
    });
    let authorize = reqwest::Url::parse_with_params(
        &format!(
            "{}/{DEFAULT_TENANT}/oauth2/v2.0/authorize",
            issuer.base_url()
        ),
        [
            ("response_type", "code"),
            ("client_id", "orders-spa"),
            ("redirect_uri", redirect.as_str()),
            ("scope", "openid api://orders-demo/Orders.Read"),
            ("state", "st-browser"),
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "S256"),
        ],
    )
    .unwrap();

    let browser = browser().await;
    browser.client.goto(authorize.as_str()).await.unwrap();
    let scope = browser
        .field(r#"input[name="granted_scope"][value="api://orders-demo/Orders.Read"]"#)
        .await;
    assert_eq!(
        scope.prop("checked").await.unwrap().as_deref(),
        Some("true"),
        "the requested scope is ticked"
    );
    browser.type_into("#user", "alice").await;
    browser.field("#cae").await.click().await.unwrap();
    browser.screenshot("login-page.png").await;
    browser.field("#sign-in").await.click().await.unwrap();
    browser
        .text_when("body", |text| text.contains("Signed in"))
        .await;
    let query = received
        .lock()
        .unwrap()
        .take()
        .expect("the redirect reached the client");
    let param = |name: &str| {
        query
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.clone())
    };
    assert_eq!(param("state").as_deref(), Some("st-browser"));
    let code = param("code").expect("a code");

    let tokens: Value = reqwest::Client::new()
        .post(format!(
            "{}/{DEFAULT_TENANT}/oauth2/v2.0/token",
            issuer.base_url()
        ))
        .form(&[
            ("grant_type", "authorization_code"),
            ("client_id", "orders-spa"),
            ("code", &code),
            ("redirect_uri", &redirect),
            ("code_verifier", VERIFIER),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = tokens["access_token"].as_str().expect("an access token");
    assert_eq!(call_orders(&demo, token).await, 200);
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_debugger_page_mints_a_token_the_demo_accepts() {
    let (issuer, demo) = demo().await;
    let browser = browser().await;
    browser.client.goto(issuer.base_url()).await.unwrap();
    browser
        .type_into("#claims", r#"{"scp": "Orders.Read", "name": "Alice"}"#)
        .await;
    browser.field("#mint-button").await.click().await.unwrap();
    let token = browser.text_when("#token", |text| !text.is_empty()).await;
    let decoded = browser.text_when("#decoded", |text| !text.is_empty()).await;
    assert!(decoded.contains(r#""scp": "Orders.Read""#), "{decoded}");
    browser.type_into("#url", &format!("{demo}/orders")).await;
    browser.field("#check-button").await.click().await.unwrap();
    let result = browser.text_when("#result", |text| !text.is_empty()).await;
    assert!(result.starts_with("200"), "{result}");
    browser.screenshot("debugger-page.png").await;
    // The same token, from the test: the demo accepts it.
    assert_eq!(call_orders(&demo, &token).await, 200);

    // An attack variant from the page: the demo refuses it, and the page shows why.
    let attack = browser.field("#attack").await;
    attack.select_by_value("alg-none").await.unwrap();
    browser.field("#mint-button").await.click().await.unwrap();
    let forged = browser
        .text_when("#token", |text| !text.is_empty() && text != token)
        .await;
    browser.field("#check-button").await.click().await.unwrap();
    let result = browser
        .text_when("#result", |text| text.starts_with("401"))
        .await;
    assert!(result.contains("invalid_token"), "{result}");
    assert_eq!(call_orders(&demo, &forged).await, 401);
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_control_page_sets_faults_and_rotates_keys() {
    let issuer = FakeIssuer::start().await.unwrap();
    let browser = browser().await;
    browser
        .client
        .goto(&format!("{}/_fake", issuer.base_url()))
        .await
        .unwrap();
    browser
        .field("#endpoint")
        .await
        .select_by_value("jwks")
        .await
        .unwrap();
    browser.type_into("#value", "503").await;
    browser.field("#fault-button").await.click().await.unwrap();
    browser
        .text_when("#fault-jwks", |text| text.contains("503"))
        .await;
    let jwks = reqwest::get(issuer.jwks_url()).await.unwrap();
    assert_eq!(jwks.status(), 503);
    browser.screenshot("control-page.png").await;
    browser
        .field(r#"[data-clear="jwks"]"#)
        .await
        .click()
        .await
        .unwrap();
    browser
        .text_when("#fault-jwks", |text| text == "none")
        .await;
    assert_eq!(reqwest::get(issuer.jwks_url()).await.unwrap().status(), 200);

    let before = issuer.signing_kid();
    browser
        .field("#algorithm")
        .await
        .select_by_value("ES256")
        .await
        .unwrap();
    browser.field("#rotate-button").await.click().await.unwrap();
    let started = Instant::now();
    while issuer.signing_kid() == before {
        assert!(started.elapsed() < Duration::from_secs(10), "no rotation");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let state: Value = reqwest::get(format!("{}/_fake/state", issuer.base_url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let signing: Vec<&Value> = state["keys"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|key| key["signing"] == true)
        .collect();
    assert_eq!(signing.len(), 1);
    assert_eq!(signing[0]["algorithm"], "ES256");
    let old = state["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|key| key["kid"] == before.as_str())
        .unwrap();
    assert_eq!(old["published"], false, "the old key left the JWKS");
    browser.close().await;
}
