//! The demo prints its registration and exits: `orders_api --print-manifest` (the Entra manifest
//! fragment, JSON) and `--print-permissions` (the permissions page, Markdown), byte-identical
//! from run to run and identical to what the library builds from the routes' types.
//!
//! It runs the `orders_api` example binary that `cargo test --workspace` builds beside this one;
//! run alone, build it first (`cargo build --example orders_api`), or a stale binary is
//! compared with the current library.

use std::process::{Command, Output};

use warden_examples::orders;

fn orders_api(args: &[&str]) -> Output {
    let binary = std::env::current_exe()
        .unwrap()
        .parent()
        .and_then(|deps| deps.parent())
        .map(|profile| profile.join("examples").join("orders_api"))
        .unwrap();
    assert!(
        binary.is_file(),
        "{} is missing: `cargo test --workspace` builds it; run alone, \
         `cargo build --example orders_api` first",
        binary.display()
    );
    let mut command = Command::new(binary);
    command.args(args);
    // The demo's own audience, whatever the developer's shell exports.
    for (name, _) in std::env::vars() {
        if name.starts_with("WARDEN_") {
            command.env_remove(name);
        }
    }
    command.output().unwrap()
}

#[test]
fn the_demo_prints_its_manifest_and_permissions_page_the_same_every_run() {
    // This binary's allocation counts must see no other test's allocations.
    let _serial = crate::serial();
    let permissions = orders::permissions(orders::DEMO_AUDIENCE).unwrap();
    for (flag, expected) in [
        ("--print-manifest", permissions.entra_manifest().to_json()),
        ("--print-permissions", permissions.markdown()),
    ] {
        let first = orders_api(&[flag]);
        let second = orders_api(&[flag]);
        assert!(first.status.success(), "{flag}: {:?}", first.status);
        assert!(first.stderr.is_empty(), "{flag} wrote to stderr");
        assert_eq!(first.stdout, second.stdout, "{flag}: two runs differ");
        assert_eq!(
            String::from_utf8(first.stdout).unwrap(),
            expected,
            "{flag} (after a change to the demo, build the binary again: \
             `cargo build --example orders_api`)"
        );
    }
    let manifest: serde_json::Value =
        serde_json::from_slice(&orders_api(&["--print-manifest"]).stdout).unwrap();
    assert_eq!(manifest["api"]["requestedAccessTokenVersion"], 2);
    assert!(
        manifest["api"]["oauth2PermissionScopes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|scope| scope["value"] == "Orders.Read")
    );

    let unknown = orders_api(&["--print-everything"]);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(unknown.stdout.is_empty());
    assert_eq!(
        String::from_utf8(unknown.stderr).unwrap(),
        "unknown argument \"--print-everything\": --print-manifest or --print-permissions\n"
    );
}
