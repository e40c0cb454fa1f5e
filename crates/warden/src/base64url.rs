//! Unpadded base64url (RFC 4648 §5), decoded strictly: the alphabet only, no padding, no
//! whitespace, and canonical (the unused bits of the last character zero), so one token has one
//! spelling. A neutral leaf: the token parser, DPoP proofs and JWKs share it.

/// The bytes `segment` encodes, or `None` for anything but canonical unpadded base64url.
pub(crate) fn decode(segment: &str) -> Option<Vec<u8>> {
    base64_simd::URL_SAFE_NO_PAD
        .decode_to_vec(segment.as_bytes())
        .ok()
}

/// The bytes `segment` encodes, written at the start of `out`; `None` for anything but canonical
/// unpadded base64url, or when `out` is too short for them (the caller then decodes with
/// [`decode`]).
pub(crate) fn decode_into<'o>(segment: &str, out: &'o mut [u8]) -> Option<&'o [u8]> {
    if out.len() < segment.len() / 4 * 3 + 2 {
        return None;
    }
    base64_simd::URL_SAFE_NO_PAD
        .decode(segment.as_bytes(), base64_simd::Out::from_slice(out))
        .ok()
        .map(|decoded| &*decoded)
}

/// Whether `segment` is the unpadded, canonical base64url of exactly `bytes`: decoded in blocks
/// of 1,024 characters (768 bytes) on the stack, so the check allocates nothing, whatever the
/// length (smaller blocks measured slower: each decode call has a fixed cost).
pub(crate) fn encodes(segment: &str, bytes: &[u8]) -> bool {
    let decoded_len = segment.len() / 4 * 3
        + match segment.len() % 4 {
            0 => 0,
            2 => 1,
            3 => 2,
            _ => return false,
        };
    if decoded_len != bytes.len() {
        return false;
    }
    let mut block = [0u8; 768];
    for (chars, expected) in segment.as_bytes().chunks(1024).zip(bytes.chunks(768)) {
        // Every block but the last is 1,024 characters, 768 bytes; the last decodes to the rest.
        match base64_simd::URL_SAFE_NO_PAD.decode(chars, base64_simd::Out::from_slice(&mut block)) {
            Ok(decoded) if decoded == expected => {}
            _ => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::{decode, decode_into, encodes};

    #[test]
    fn decodes_canonical_unpadded_base64url_only() {
        assert_eq!(decode("QQ").as_deref(), Some(&b"A"[..]));
        assert_eq!(decode("-_8").as_deref(), Some(&[0xfb, 0xff][..]));
        // Non-canonical: the unused low bits of the last character are not zero.
        assert_eq!(decode("QR"), None);
        assert_eq!(decode("-_9"), None);
        // Padding, the standard alphabet, whitespace, a dangling character.
        for refused in ["QQ==", "QQ=", "+/8", "QQ\n", " QQ", "Q", "QUJD=", "QU JD"] {
            assert_eq!(decode(refused), None, "{refused:?}");
        }
    }

    /// The same answers as the `base64` crate's strict unpadded engine (which warden used
    /// before), on every length up to 300 bytes (the SIMD path included) and with every byte
    /// of each encoding replaced by a character outside the alphabet, by padding, or by a
    /// character of the alphabet.
    #[test]
    fn agrees_with_the_base64_crate_on_every_length_and_every_mutation() {
        use base64::Engine as _;
        use base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let reference = |s: &str| URL_SAFE_NO_PAD.decode(s).ok();
        for len in 0..=300usize {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 37 + len) as u8).collect();
            let encoded = URL_SAFE_NO_PAD.encode(&bytes);
            assert_eq!(
                decode(&encoded).as_deref(),
                Some(&bytes[..]),
                "length {len}"
            );
            let mut out = [0u8; 302];
            assert_eq!(
                decode_into(&encoded, &mut out),
                Some(&bytes[..]),
                "length {len}"
            );
            for position in (0..encoded.len()).step_by(7) {
                for replacement in [b'=', b'+', b'/', b' ', b'.', b'A', b'_', 0xC3] {
                    let mut mutated = encoded.clone().into_bytes();
                    mutated[position] = replacement;
                    let Ok(mutated) = String::from_utf8(mutated) else {
                        continue;
                    };
                    assert_eq!(decode(&mutated), reference(&mutated), "{mutated:?}");
                    assert_eq!(
                        decode_into(&mutated, &mut out).map(<[u8]>::to_vec),
                        reference(&mutated),
                        "{mutated:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn tells_whether_a_segment_encodes_exactly_these_bytes() {
        use base64::Engine as _;
        use base64::engine::general_purpose::URL_SAFE_NO_PAD;
        for len in (0..=200usize).chain([767, 768, 769, 1535, 1536, 1537, 3000]) {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 11 + 3) as u8).collect();
            let encoded = URL_SAFE_NO_PAD.encode(&bytes);
            assert!(encodes(&encoded, &bytes), "length {len}");
            if len > 0 {
                let mut other = bytes.clone();
                other[len / 2] ^= 1;
                assert!(!encodes(&encoded, &other), "a changed byte, length {len}");
                assert!(!encodes(&encoded, &bytes[..len - 1]), "a shorter text");
                assert!(!encodes(&format!("{encoded}="), &bytes), "padding");
            }
        }
        // Non-canonical spellings of the same bytes are not this encoding.
        assert!(encodes("QQ", b"A"));
        assert!(!encodes("QR", b"A"));
        assert!(!encodes("Q", b""));
    }
}
