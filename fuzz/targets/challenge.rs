//! Fuzz target: warden::fuzzing::challenge must never panic.

fn main() {
    afl::fuzz!(|data: &[u8]| {
        warden::fuzzing::challenge(data);
    });
}
