//! `htu` comparison: URLs normalised as RFC 3986 §6.2.2–6.2.3 says.

use std::borrow::Cow;

/// A URL normalised for comparison (RFC 3986 §6.2.2 and §6.2.3): scheme and host lower case,
/// the default port dropped, an empty path made `/`, percent-encoded unreserved characters
/// decoded and other escapes upper-cased, dot segments removed; query and fragment dropped (RFC
/// 9449 compares `htu` without them). `None` for anything but an absolute http(s) URL.
///
/// A URL already in that form (what clients send, and what a request's own URL usually is) is
/// recognised in one pass and borrowed: the proof's `htu` and the request's URL are compared
/// without building either again.
pub(crate) fn normalize_url(url: &str) -> Option<Cow<'_, str>> {
    if is_normal(url) {
        return Some(Cow::Borrowed(url));
    }
    rebuild(url).map(Cow::Owned)
}

/// Whether `url` is already its own normal form, judged conservatively: a lower-case http(s)
/// scheme, a host of lower-case letters, digits, dots and hyphens (no port, userinfo or IPv6
/// literal), and a path of printable ASCII with no escape, query, fragment or dot segment.
/// Anything else goes through [`rebuild`], which gives the same text for every URL this accepts
/// (a test checks it).
fn is_normal(url: &str) -> bool {
    let Some(rest) = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
    else {
        return false;
    };
    let Some(slash) = rest.find('/') else {
        return false;
    };
    let (authority, path) = rest.split_at(slash);
    !authority.is_empty()
        && authority
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
        && path
            .bytes()
            .all(|b| b.is_ascii_graphic() && !matches!(b, b'%' | b'?' | b'#'))
        && !path
            .split('/')
            .any(|segment| segment == "." || segment == "..")
}

/// The normal form of any URL, built step by step.
fn rebuild(url: &str) -> Option<String> {
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

#[cfg(test)]
mod tests {
    use super::{is_normal, rebuild};

    /// Every URL the one-pass check borrows is exactly what the step-by-step normalisation
    /// builds: over schemes, hosts and paths of every kind of segment, up to three deep.
    #[test]
    fn a_url_taken_as_normal_is_its_own_normal_form() {
        let segments = [
            "", "a", ".", "..", "b.c", "~x", "%41", "%2f", "a:b", "A", "x=y", "-_",
        ];
        let mut paths = vec![String::new()];
        for _ in 0..3 {
            let longer: Vec<String> = paths
                .iter()
                .flat_map(|path| segments.iter().map(move |s| format!("{path}/{s}")))
                .collect();
            paths.extend(longer);
        }
        let mut borrowed = 0;
        for scheme in ["https", "http", "HTTPS", "ftp"] {
            for host in [
                "api.example.com",
                "x-1.y",
                "Host",
                "h:443",
                "h:80",
                "[::1]",
                "u@h",
                "",
            ] {
                for path in &paths {
                    for suffix in ["", "?q=1", "#f"] {
                        let url = format!("{scheme}://{host}{path}{suffix}");
                        if is_normal(&url) {
                            borrowed += 1;
                            assert_eq!(rebuild(&url).as_deref(), Some(url.as_str()), "{url}");
                        }
                    }
                }
            }
        }
        assert!(borrowed > 1000, "only {borrowed} URLs were taken as normal");
    }
}
