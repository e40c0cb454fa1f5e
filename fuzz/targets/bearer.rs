//! Fuzz target: warden::fuzzing::bearer must never panic.

fn main() {
    afl::fuzz!(|data: &[u8]| {
        warden::fuzzing::bearer(data);
    });
}
