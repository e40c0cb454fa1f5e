//! Unpadded base64url (RFC 4648 §5), decoded strictly: the alphabet only, no padding, no
//! whitespace, and canonical (the unused bits of the last character zero), so one token has one
//! spelling. A neutral leaf: the token parser, DPoP proofs and JWKs share it.

/// The bytes `segment` encodes, or `None` for anything but canonical unpadded base64url.
pub(crate) fn decode(segment: &str) -> Option<Vec<u8>> {
    base64_simd::URL_SAFE_NO_PAD
        .decode_to_vec(segment.as_bytes())
        .ok()
}

#[cfg(test)]
mod tests {
    use super::decode;

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
            for position in (0..encoded.len()).step_by(7) {
                for replacement in [b'=', b'+', b'/', b' ', b'.', b'A', b'_', 0xC3] {
                    let mut mutated = encoded.clone().into_bytes();
                    mutated[position] = replacement;
                    let Ok(mutated) = String::from_utf8(mutated) else {
                        continue;
                    };
                    assert_eq!(decode(&mutated), reference(&mutated), "{mutated:?}");
                }
            }
        }
    }
}
