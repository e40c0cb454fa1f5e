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
}
