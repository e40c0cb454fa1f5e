//! `warden manifest`: show an Entra manifest's permissions, or compare two and write the
//! Microsoft Graph updates from one to the other.

use std::collections::BTreeMap;

use warden::registration::EntraManifest;

use crate::args::Args;
use crate::exit;
use crate::output::{self, Style};

const HELP: &str = "\
warden manifest: show or compare Entra manifests (their identifier URIs, scopes and roles)

usage:
  warden manifest show <manifest.json | ->
  warden manifest diff <current.json> <wanted.json> [--patches]

A manifest is an application as Microsoft Graph returns it, as the admin center downloads it,
or the fragment warden's registration writes (`orders_api --print-manifest`).

`show` prints the manifest's identifier URIs, scopes and roles, normalised as warden writes them.
`diff` lists what `wanted` adds, removes and changes against `current`; with --patches it prints
instead the JSON array of PATCH /applications/{id} bodies that apply it, in order: a removed
permission is disabled by the first and removed by the second, as Graph requires.

exit codes: 0 shown, or the manifests alike; 1 they differ; 2 unreadable input or bad arguments.

example:
  az ad app show --id $APP_ID > current.json
  cargo run --example orders_api -- --print-manifest > wanted.json
  warden manifest diff current.json wanted.json --patches > patches.json
";

pub(crate) fn run(args: &[String]) -> u8 {
    let args = match Args::parse(args, &[], &["--patches", "--help", "-h"]) {
        Ok(args) => args,
        Err(message) => return output::usage(&message, HELP),
    };
    if args.flag("--help") || args.flag("-h") {
        print!("{HELP}");
        return exit::OK;
    }
    match args.positional.as_slice() {
        [command, path] if command == "show" && !args.flag("--patches") => match read(path) {
            Ok(manifest) => {
                print!("{}", manifest.to_json());
                exit::OK
            }
            Err(code) => code,
        },
        [command, current, wanted] if command == "diff" => {
            let (current, wanted) = match (read(current), read(wanted)) {
                (Ok(current), Ok(wanted)) => (current, wanted),
                (Err(code), _) | (_, Err(code)) => return code,
            };
            diff(&current, &wanted, args.flag("--patches"))
        }
        _ => output::usage("`show <manifest>` or `diff <current> <wanted>`", HELP),
    }
}

fn read(path: &str) -> Result<EntraManifest, u8> {
    let text = output::read_input(path).map_err(|e| output::unreadable(path, e))?;
    EntraManifest::from_json(&text).map_err(|e| output::unreadable(path, e))
}

/// One permission, as compared: value → (kind, JSON without the id).
fn permissions(manifest: &EntraManifest) -> BTreeMap<(String, &'static str), serde_json::Value> {
    let mut all = BTreeMap::new();
    for scope in &manifest.api.oauth2_permission_scopes {
        let mut value = serde_json::to_value(scope).unwrap_or_default();
        if let Some(object) = value.as_object_mut() {
            object.remove("id");
        }
        all.insert((scope.value.clone(), "scope"), value);
    }
    for role in &manifest.app_roles {
        let mut value = serde_json::to_value(role).unwrap_or_default();
        if let Some(object) = value.as_object_mut() {
            object.remove("id");
        }
        all.insert((role.value.clone(), "role"), value);
    }
    all
}

fn diff(current: &EntraManifest, wanted: &EntraManifest, patches: bool) -> u8 {
    let before = permissions(current);
    let after = permissions(wanted);
    let mut lines = Vec::new();
    let style = Style::detect();
    if current.identifier_uris != wanted.identifier_uris {
        lines.push(format!(
            "~ identifierUris: {:?} -> {:?}",
            current.identifier_uris, wanted.identifier_uris
        ));
    }
    if current.api.requested_access_token_version != wanted.api.requested_access_token_version {
        lines.push(format!(
            "~ api.requestedAccessTokenVersion: {:?} -> {:?}",
            current.api.requested_access_token_version, wanted.api.requested_access_token_version
        ));
    }
    for ((value, kind), permission) in &after {
        match before.get(&(value.clone(), kind)) {
            None => lines.push(style.green(&format!("+ {kind} {value}"))),
            Some(old) if old != permission => {
                lines.push(style.yellow(&format!("~ {kind} {value}: {old} -> {permission}")));
            }
            Some(_) => {}
        }
    }
    for (value, kind) in before.keys() {
        if !after.contains_key(&(value.clone(), kind)) {
            lines.push(style.red(&format!("- {kind} {value}")));
        }
    }
    if patches {
        let updates = wanted.updates_from(current);
        let bodies: Vec<serde_json::Value> = updates
            .iter()
            .map(|update| serde_json::to_value(update).unwrap_or_default())
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&bodies).unwrap_or_default()
        );
    } else {
        for line in &lines {
            println!("{line}");
        }
    }
    if lines.is_empty() { exit::OK } else { exit::NO }
}
