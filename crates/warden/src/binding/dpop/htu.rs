//! `htu` comparison: URLs normalised as RFC 3986 §6.2.2–6.2.3 says.

/// A URL normalised for comparison (RFC 3986 §6.2.2 and §6.2.3): scheme and host lower case,
/// the default port dropped, an empty path made `/`, percent-encoded unreserved characters
/// decoded and other escapes upper-cased, dot segments removed; query and fragment dropped (RFC
/// 9449 compares `htu` without them). `None` for anything but an absolute http(s) URL.
pub(crate) fn normalize_url(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "https" => "443",
        "http" => "80",
        _ => return None,
    };
    let rest = rest.split(['#', '?']).next().unwrap_or_default();
    let (authority, path) = match rest.find('/') {
        Some(at) => rest.split_at(at),
        None => (rest, ""),
    };
    if authority.is_empty() || authority.contains('@') {
        return None;
    }
    let authority = authority.to_ascii_lowercase();
    let authority = match authority.rsplit_once(':') {
        // `[::1]:443`, `host:443`, `host:` (an empty port); a bare IPv6 literal keeps its colons.
        Some((host, port)) if !port.contains(']') && (port.is_empty() || port == default_port) => {
            host.to_owned()
        }
        _ => authority,
    };
    let path = normalize_escapes(path)?;
    let path = remove_dot_segments(if path.is_empty() { "/" } else { &path });
    Some(format!("{scheme}://{authority}{path}"))
}

/// Decodes escapes of unreserved characters, upper-cases the rest (RFC 3986 §6.2.2.1–2).
fn normalize_escapes(path: &str) -> Option<String> {
    let bytes = path.as_bytes();
    let mut out = String::with_capacity(path.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = path.get(i + 1..i + 3)?;
            let value = u8::from_str_radix(hex, 16).ok()?;
            if value.is_ascii_alphanumeric() || matches!(value, b'-' | b'.' | b'_' | b'~') {
                out.push(value as char);
            } else {
                out.push('%');
                out.push_str(&hex.to_ascii_uppercase());
            }
            i += 3;
        } else {
            out.push(bytes[i] as char);
            i += 1;
        }
    }
    path.is_ascii().then_some(out)
}

/// RFC 3986 §5.2.4.
fn remove_dot_segments(path: &str) -> String {
    let mut output: Vec<&str> = Vec::new();
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    let last = segments.len().saturating_sub(1);
    let mut trailing_slash = false;
    for (i, segment) in segments.iter().enumerate() {
        match *segment {
            "." => trailing_slash = i == last,
            ".." => {
                output.pop();
                trailing_slash = i == last;
            }
            other => {
                output.push(other);
                trailing_slash = false;
            }
        }
    }
    let mut result = String::from("/");
    result.push_str(&output.join("/"));
    if trailing_slash && !result.ends_with('/') {
        result.push('/');
    }
    result
}
