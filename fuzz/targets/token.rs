//! Fuzz target: warden::fuzzing::token must never panic.

fn main() {
    afl::fuzz!(|data: &[u8]| {
        warden::fuzzing::token(data);
    });
}
