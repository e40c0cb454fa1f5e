//! `warden`: the command-line side of the warden library.
//!
//! - `warden inspect <token>` decodes a token without trusting it; with `--issuer` and
//!   `--audience` (or `--entra`), it runs warden's own validator and explains each check.
//! - `warden audit <app.json>` checks an Entra app registration against Microsoft's security
//!   best practices for application properties, and against the API's own permissions.
//! - `warden manifest` shows or compares Entra manifests, and writes the Graph updates between
//!   them.
//!
//! Exit codes are stable (`warden --help` lists them); docs/registration.md is the guide.
#![forbid(unsafe_code)]

mod args;
mod audit;
mod inspect;
mod manifest;
mod output;

use std::process::ExitCode;

/// The exit codes, one meaning each, stable across versions.
pub(crate) mod exit {
    /// Done: a valid token, no finding at or above the threshold, manifests alike.
    pub const OK: u8 = 0;
    /// The answer is no: an invalid token, findings at or above the threshold, manifests differ.
    pub const NO: u8 = 1;
    /// The command could not run: bad arguments, unreadable or unparsable input.
    pub const USAGE: u8 = 2;
    /// The issuer could not be reached to check the token.
    pub const UNREACHABLE: u8 = 3;
}

const HELP: &str = "\
warden: inspect tokens, audit app registrations, compare manifests

usage:
  warden inspect <token | -> [--issuer URL --audience AUD... [--profile rfc9068|jwt|cognito]]
                             [--entra TENANT --audience AUD... [--authority URL]]
  warden audit <app.json> [--owners owners.json] [--expect manifest.json]
                          [--federated-credentials fic.json [--trusted-issuer URL]...]
                          [--verified-domain DOMAIN]... [--tenant TENANT_ID]
                          [--as-of YYYY-MM-DD] [--format text|json] [--fail-on LEVEL]
  warden manifest show <manifest.json>
  warden manifest diff <current.json> <wanted.json> [--patches]

examples:
  pbpaste | warden inspect -
  warden inspect - --entra contoso.onmicrosoft.com --audience $API_APP_ID < token.txt
  az ad app show --id $APP_ID > app.json && warden audit app.json --fail-on medium
  cargo run --example orders_api -- --print-manifest > wanted.json
  warden manifest diff app.json wanted.json --patches

exit codes:
  0  a valid token; no finding at or above --fail-on; manifests alike
  1  an invalid token (the failed check is printed); findings; manifests differ
  2  bad arguments, or input that cannot be read or parsed
  3  the issuer's keys could not be fetched

`warden <command> --help` says more of each command.
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let code = match args.first().map(String::as_str) {
        Some("inspect") => inspect::run(&args[1..]),
        Some("audit") => audit::run(&args[1..]),
        Some("manifest") => manifest::run(&args[1..]),
        Some("-h" | "--help" | "help") => {
            print!("{HELP}");
            exit::OK
        }
        Some("-V" | "--version") => {
            println!("warden {}", env!("CARGO_PKG_VERSION"));
            exit::OK
        }
        Some(other) => output::usage(&format!("unknown command {other:?}"), HELP),
        None => output::usage("a command is needed", HELP),
    };
    ExitCode::from(code)
}
