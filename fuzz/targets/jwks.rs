//! Fuzz target: warden::fuzzing::jwks must never panic.

fn main() {
    afl::fuzz!(|data: &[u8]| {
        warden::fuzzing::jwks(data);
    });
}
