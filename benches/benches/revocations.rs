//! The revocation check at scale: the cost of `revoked_since` for a token no rule names and for a
//! revoked one, with 10 and with 1,000,000 live rules in one run (the local replica of a fleet
//! store is this same `InMemoryRevocations`), and the heap memory per rule, counted by dhat.
//!
//! Run with `cargo bench -p warden-benches --bench revocations`.

use std::hint::black_box;

use warden::Principal;
use warden::cae::{InMemoryRevocations, Revocation, RevocationStore};
use warden_benches::{Fixture, measure_all};

#[global_allocator]
static ALLOCATOR: dhat::Alloc = dhat::Alloc;

const LARGE: usize = 1_000_000;
const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";

fn heap_bytes() -> usize {
    dhat::HeapStats::get().curr_bytes
}

/// `count` user rules with 36-character subjects (GUID-like, as Entra `oid`s are), every tenth
/// scoped to a tenant.
fn fill(store: &InMemoryRevocations, count: usize, now: u64) {
    for i in 0..count {
        let rule = Revocation::user(format!("00000000-0000-4000-8000-{i:012}")).issued_before(now);
        let rule = if i % 10 == 0 {
            rule.in_tenant(TENANT)
        } else {
            rule
        };
        store.apply(rule);
    }
}

fn principal(fixture: &Fixture, runtime: &tokio::runtime::Runtime, subject: &str) -> Principal {
    principals(fixture, runtime, &[subject.to_owned()]).remove(0)
}

fn principals(
    fixture: &Fixture,
    runtime: &tokio::runtime::Runtime,
    subjects: &[String],
) -> Vec<Principal> {
    let layer = fixture.warden(0);
    subjects
        .iter()
        .map(|subject| {
            let token = fixture
                .issuer
                .token()
                .subject(subject.as_str())
                .issued_at(warden_benches::now() - 60)
                .sign();
            runtime
                .block_on(layer.validator().validate(&token))
                .unwrap_or_else(|e| panic!("{e}"))
        })
        .collect()
}

fn main() {
    let _profiler = dhat::Profiler::builder().testing().build();
    let runtime = warden_benches::runtime();
    let fixture = Fixture::new(&runtime);
    let now = warden_benches::now() as u64;

    let small = InMemoryRevocations::default();
    fill(&small, 10, now);
    let before = heap_bytes();
    let large = InMemoryRevocations::default();
    fill(&large, LARGE, now);
    let used = heap_bytes().saturating_sub(before);

    let clean = principal(&fixture, &runtime, "alice");
    let revoked = principal(&fixture, &runtime, "00000000-0000-4000-8000-000000000007");
    // Many callers: each lookup lands on lines of the table the previous ones did not touch.
    let many: Vec<Principal> = principals(
        &fixture,
        &runtime,
        &(0..4096).map(|i| format!("caller-{i}")).collect::<Vec<_>>(),
    );
    let (mut next_small, mut next_large) = (0usize, 0usize);
    assert_eq!(small.revoked_since(&clean), None);
    assert_eq!(large.revoked_since(&revoked), Some(now));

    let times = measure_all(&mut [
        &mut || {
            black_box(small.revoked_since(black_box(&clean)));
        },
        &mut || {
            black_box(large.revoked_since(black_box(&clean)));
        },
        &mut || {
            black_box(small.revoked_since(black_box(&revoked)));
        },
        &mut || {
            black_box(large.revoked_since(black_box(&revoked)));
        },
        &mut || {
            next_small = (next_small + 1) % many.len();
            black_box(small.revoked_since(black_box(&many[next_small])));
        },
        &mut || {
            next_large = (next_large + 1) % many.len();
            black_box(large.revoked_since(black_box(&many[next_large])));
        },
    ]);
    let ns = |d: std::time::Duration| d.as_nanos();
    println!("revocation check, median of one call (same run):");
    println!("| token | 10 rules | 1,000,000 rules | ratio |");
    println!("|---|---|---|---|");
    println!(
        "| named by no rule | {} ns | {} ns | {:.2} |",
        ns(times[0]),
        ns(times[1]),
        times[1].as_secs_f64() / times[0].as_secs_f64()
    );
    println!(
        "| revoked | {} ns | {} ns | {:.2} |",
        ns(times[2]),
        ns(times[3]),
        times[3].as_secs_f64() / times[2].as_secs_f64()
    );
    println!(
        "| 4,096 callers in turn, named by no rule | {} ns | {} ns | {:.2} |",
        ns(times[4]),
        ns(times[5]),
        times[5].as_secs_f64() / times[4].as_secs_f64()
    );
    println!(
        "memory per rule ({LARGE} rules, 36-byte subjects, one in ten tenant-scoped): {} bytes \
         on the heap, of which 36 are the subject",
        used / LARGE
    );
}
