//! `warden inspect`: a token's header and claims, decoded without trusting them, and, against
//! its issuer, warden's own verdict with each check in order.

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use serde_json::Value;
use warden::entra::Entra;
use warden::error::Check;
use warden::keys::JwksCache;
use warden::principal::Caller;
use warden::{Error, Issuer, Validator, config::Profile};

use crate::args::Args;
use crate::exit;
use crate::output::{self, Style};

const HELP: &str = "\
warden inspect: decode a token, and check it against its issuer

usage:
  warden inspect <token | ->
  warden inspect <token | -> --issuer URL --audience AUD... [--profile rfc9068|jwt|cognito]
  warden inspect <token | -> --entra TENANT --audience AUD... [--authority URL]

The token is read from the argument, or from standard input with `-` (so that it stays out of
your shell history). Its header and claims are printed as they are: not verified.

With --issuer (an OpenID Connect issuer: keys by discovery) or --entra (a Microsoft Entra
tenant, by id or domain), warden's own validator checks the token and explains each check in
the order it runs them; the last line is `valid`, or the name of the failed check (`expired`,
`wrong_audience`, ...). --profile says what the issuer's access tokens look like: rfc9068
(typ at+jwt, the default), jwt (typ JWT, as Keycloak and older Auth0 tenants send) or
cognito (Amazon Cognito's access tokens: client_id for the audience, token_use access). --audience may be repeated; for Entra's
v2.0 tokens it is the API's application (client) id.
--authority replaces https://login.microsoftonline.com (a sovereign cloud, a test issuer).

The token is never written anywhere but where you asked: not to logs, not to files. Pass it
with `-`: an argument is visible to other users of the machine in the process list, and stays
in your shell's history.

exit codes: 0 valid (or decoded, without an issuer), 1 invalid, 2 unreadable token or bad
arguments, 3 the issuer's keys could not be fetched.

examples:
  pbpaste | warden inspect -
  warden inspect - --issuer https://login.example.com --audience api://orders < token.txt
  warden inspect - --entra contoso.onmicrosoft.com --audience $API_APP_ID < token.txt
";

pub(crate) fn run(args: &[String]) -> u8 {
    let args = match Args::parse(
        args,
        &[
            "--issuer",
            "--audience",
            "--profile",
            "--entra",
            "--authority",
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
    let [source] = args.positional.as_slice() else {
        return output::usage("one token (or `-` for standard input) is needed", HELP);
    };
    let validator = match validator(&args) {
        Ok(validator) => validator,
        Err(message) => return output::usage(&message, HELP),
    };
    let token = if source == "-" {
        match output::read_input(source) {
            Ok(text) => text.trim().to_owned(),
            Err(error) => return output::unreadable("the token", error),
        }
    } else {
        source.trim().to_owned()
    };
    if token.is_empty() {
        return output::usage("the token is empty", HELP);
    }
    let style = Style::detect();
    let decoded = decode(&token);
    if let (Err(reason), None) = (&decoded, &validator) {
        // Without an issuer there is no verdict to give: a token that cannot even be decoded
        // is unreadable input.
        return output::unreadable("the token", reason);
    }
    match &decoded {
        Ok((header, claims)) => {
            println!("{}", style.bold("header (not verified)"));
            println!("{}", pretty(header));
            println!("{}", style.bold("claims (not verified)"));
            println!("{}", pretty(claims));
            print_times(claims, style);
        }
        Err(reason) => println!("{} {reason}", style.yellow("not decodable:")),
    }
    let Some(validator) = validator else {
        println!(
            "\n{}",
            style.dim("not verified: pass --issuer and --audience (or --entra) to check it")
        );
        // Decoded (an undecodable token without an issuer was refused above).
        return exit::OK;
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => return output::unreadable("a runtime", error),
    };
    let verdict = runtime.block_on(validator.validate(&token));
    println!("\n{}", style.bold("checks, in the order warden runs them"));
    match verdict {
        Ok(principal) => {
            for check in Check::ALL {
                println!("  {}  {}", style.green("passed "), check.name());
            }
            println!("\n{}", style.bold("caller"));
            let caller = match principal.caller() {
                Caller::User => "a user, through a client application (delegated)",
                Caller::App => "an application acting as itself (app-only)",
                // `Caller` may grow in a minor version of warden.
                _ => "another kind of caller",
            };
            println!("  kind:        {caller}");
            println!("  issuer:      {}", principal.issuer());
            println!("  subject:     {}", principal.subject());
            if let Some(tenant) = principal.tenant_id() {
                println!("  tenant:      {tenant}");
            }
            if let Some(client) = principal.client_id() {
                println!("  client:      {client}");
            }
            println!("  scopes:      {}", list(principal.scopes()));
            println!("  roles:       {}", list(principal.roles()));
            println!(
                "  CAE capable: {}",
                if principal.is_cae_capable() {
                    "yes (xms_cc names cp1: claims challenges are understood)"
                } else {
                    "no"
                }
            );
            println!("\n{}", style.green("valid"));
            exit::OK
        }
        Err(Error::Unavailable(unavailable)) => {
            println!(
                "  {}  {}: retry in {} s",
                style.yellow("unknown"),
                unavailable.description(),
                unavailable.retry_after.as_secs()
            );
            println!("\n{}", style.yellow("unavailable"));
            exit::UNREACHABLE
        }
        Err(error) => {
            let failed = error.check();
            for check in Check::ALL {
                match failed {
                    Some(f) if check < f => {
                        println!("  {}  {}", style.green("passed "), check.name());
                    }
                    Some(f) if check == f => println!(
                        "  {}  {}: {}{}",
                        style.red("failed "),
                        check.name(),
                        error,
                        detail(&error)
                    ),
                    _ => println!("  {}  {}", style.dim("not run"), check.name()),
                }
            }
            if failed.is_none() {
                println!("  refused: {error}");
            }
            if let Error::InvalidToken(invalid) = &error
                && let Some(remedy) = invalid.remedy()
            {
                println!("\n  {}", style.yellow(&format!("hint: {remedy}")));
            }
            println!("\n{}", style.red(error.kind()));
            exit::NO
        }
    }
}

/// The validator the options describe, if any.
fn validator(args: &Args) -> Result<Option<Validator>, String> {
    let audiences = args.values("--audience");
    let audience = (!audiences.is_empty()).then_some(&audiences);
    let builder = match (args.value("--issuer"), args.value("--entra")) {
        (None, None) => {
            if audience.is_some() || args.value("--profile").is_some() {
                return Err("--audience and --profile need --issuer or --entra".to_owned());
            }
            return Ok(None);
        }
        (Some(_), Some(_)) => return Err("--issuer or --entra, not both".to_owned()),
        (Some(issuer), None) => {
            if args.value("--authority").is_some() {
                return Err("--authority goes with --entra".to_owned());
            }
            let audience = audience.ok_or("--issuer needs --audience")?;
            let profile = match args.value("--profile").unwrap_or("rfc9068") {
                "rfc9068" => Profile::Rfc9068,
                "jwt" => Profile::JwtAccessToken,
                "cognito" => Profile::Cognito,
                other => {
                    return Err(format!(
                        "unknown profile {other:?}: rfc9068, jwt or cognito"
                    ));
                }
            };
            let keys = JwksCache::builder(issuer)
                .build()
                .map_err(|e| e.to_string())?;
            let issuer = Issuer::builder(issuer)
                .audiences(audience.iter().copied())
                .profile(profile)
                .keys(keys)
                .build()
                .map_err(|e| e.to_string())?;
            Validator::builder().issuer(issuer)
        }
        (None, Some(tenant)) => {
            if args.value("--profile").is_some() {
                return Err("--profile goes with --issuer (Entra has its own)".to_owned());
            }
            let audience = audience.ok_or("--entra needs --audience")?;
            let mut entra = Entra::builder()
                .tenant(tenant)
                .audiences(audience.iter().copied());
            if let Some(authority) = args.value("--authority") {
                entra = entra.authority(authority);
            }
            Validator::builder().entra(entra.build().map_err(|e| e.to_string())?)
        }
    };
    // Nothing is remembered between runs: no cache to fill.
    builder
        .token_cache(0)
        .build()
        .map(Some)
        .map_err(|e| e.to_string())
}

/// The header and claims, decoded as they are.
fn decode(token: &str) -> Result<(Value, Value), String> {
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err("not three dot-separated segments (a JWE has five)".to_owned());
    };
    let read = |segment: &str, what: &str| -> Result<Value, String> {
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(segment)
            .map_err(|_| format!("the {what} is not base64url"))?;
        serde_json::from_slice(&bytes).map_err(|_| format!("the {what} is not JSON"))
    };
    Ok((read(header, "header")?, read(payload, "claims")?))
}

fn pretty(value: &Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_default()
}

/// `exp`, `nbf`, `iat` and `auth_time` against the clock, in words.
fn print_times(claims: &Value, style: Style) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    for name in ["iat", "nbf", "exp", "auth_time"] {
        if let Some(at) = claims.get(name).and_then(Value::as_i64) {
            let delta = at.saturating_sub(now);
            let when = if delta >= 0 {
                format!("in {}", duration(delta))
            } else {
                format!("{} ago", duration(delta.saturating_neg()))
            };
            let line = format!("  {name:<9} {when}");
            if name == "exp" && delta < 0 {
                println!("{}", style.red(&line));
            } else {
                println!("{line}");
            }
        }
    }
}

fn duration(secs: i64) -> String {
    match secs {
        s if s < 120 => format!("{s} s"),
        s if s < 7200 => format!("{} min", s / 60),
        s if s < 172_800 => format!("{} h", s / 3600),
        s => format!("{} days", s / 86_400),
    }
}

fn list<'a>(names: impl Iterator<Item = &'a str>) -> String {
    let names: Vec<&str> = names.collect();
    if names.is_empty() {
        "none".to_owned()
    } else {
        names.join(" ")
    }
}

/// The claim a claims failure names, when it names one.
fn detail(error: &Error) -> String {
    use warden::error::InvalidToken;
    match error {
        Error::InvalidToken(
            InvalidToken::MissingClaim { claim } | InvalidToken::InvalidClaim { claim },
        ) => format!(" (`{claim}`)"),
        _ => String::new(),
    }
}
