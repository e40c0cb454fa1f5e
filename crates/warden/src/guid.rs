//! How identifiers compare. GUIDs (`xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`, hexadecimal) name the
//! same thing in any case: Microsoft Entra's object (`oid`), tenant (`tid`), application
//! (`appid`, `azp`) and session (`sid`) ids are GUIDs, and a transmitter or an operator may spell
//! them in upper case. Every other identifier compares exactly, and so do the JWT's own `sub` and
//! `jti` whatever their shape (RFC 7519 §4.1.2, §4.1.7: case-sensitive strings).

/// Whether `text` is a GUID: 36 characters, hyphens at 8, 13, 18 and 23, hexadecimal elsewhere.
pub(crate) fn is_guid(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.len() == 36
        && bytes.iter().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => *b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}

/// Whether two identifiers of a kind that may be a GUID name the same thing: equal, or the same
/// GUID in another case.
pub(crate) fn same_id(a: &str, b: &str) -> bool {
    a == b || (a.eq_ignore_ascii_case(b) && is_guid(a))
}

/// The spelling an identifier is filed under: a GUID in lower case (written into `buffer`, so
/// nothing is allocated), anything else as it is.
pub(crate) fn canonical<'a>(text: &'a str, buffer: &'a mut [u8; 36]) -> &'a str {
    if !is_guid(text) || !text.bytes().any(|b| b.is_ascii_uppercase()) {
        return text;
    }
    buffer.copy_from_slice(text.as_bytes());
    buffer.make_ascii_lowercase();
    // ASCII in, ASCII out.
    std::str::from_utf8(buffer).unwrap_or(text)
}

/// [`canonical`], owned.
pub(crate) fn canonical_owned(text: &str) -> String {
    if is_guid(text) {
        text.to_ascii_lowercase()
    } else {
        text.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOWER: &str = "3f2504e0-4f89-41d3-9a0c-0305e82c3301";
    const UPPER: &str = "3F2504E0-4F89-41D3-9A0C-0305E82C3301";

    #[test]
    fn guids_compare_in_any_case_and_nothing_else_does() {
        assert!(same_id(LOWER, UPPER));
        assert!(same_id(UPPER, UPPER));
        assert!(!same_id("Alice", "alice"));
        assert!(!same_id(LOWER, "3f2504e0-4f89-41d3-9a0c-0305e82c3302"));
        // Not a GUID once a character is not hexadecimal or a hyphen moves.
        assert!(!same_id(
            "3G2504E0-4F89-41D3-9A0C-0305E82C3301",
            "3g2504e0-4f89-41d3-9a0c-0305e82c3301"
        ));
        assert!(!is_guid("3f2504e04-f89-41d3-9a0c-0305e82c3301"));
    }

    #[test]
    fn files_a_guid_in_lower_case_without_allocating() {
        let mut buffer = [0; 36];
        assert_eq!(canonical(UPPER, &mut buffer), LOWER);
        let mut buffer = [0; 36];
        assert_eq!(canonical("Alice", &mut buffer), "Alice");
        assert_eq!(canonical_owned(UPPER), LOWER);
        assert_eq!(canonical_owned("Alice"), "Alice");
    }
}
