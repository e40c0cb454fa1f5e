//! Fuzz target: warden::fuzzing::dpop_proof must never panic.

fn main() {
    afl::fuzz!(|data: &[u8]| {
        warden::fuzzing::dpop_proof(data);
    });
}
