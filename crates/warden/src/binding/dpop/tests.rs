//! The DPoP checks, one by one, from RFC 9449's own example.

use serde_json::Value;

use super::*;

/// RFC 9449 §7.1's example request, verbatim, with the clock at its `iat`.
const RFC_PROOF: &str = "eyJ0eXAiOiJkcG9wK2p3dCIsImFsZyI6IkVTMjU2IiwiandrIjp7Imt0eSI6IkVDIiwieCI6Imw4dEZyaHgtMzR0VjNoUklDUkRZOXpDa0RscEJoRjQyVVFVZldWQVdCRnMiLCJ5IjoiOVZFNGpmX09rX282NHpiVFRsY3VOSmFqSG10NnY5VERWclUwQ2R2R1JEQSIsImNydiI6IlAtMjU2In19.eyJqdGkiOiJlMWozVl9iS2ljOC1MQUVCIiwiaHRtIjoiR0VUIiwiaHR1IjoiaHR0cHM6Ly9yZXNvdXJjZS5leGFtcGxlLm9yZy9wcm90ZWN0ZWRyZXNvdXJjZSIsImlhdCI6MTU2MjI2MjYxOCwiYXRoIjoiZlVIeU8ycjJaM0RaNTNFc05yV0JiMHhXWG9hTnk1OUlpS0NBcWtzbVFFbyJ9.2oW9RP35yRqzhrtNP86L-Ey71EOptxRimPPToA1plemAgR6pxHF8y6-yqyVnmcw6Fy1dqd-jfxSYoMxhAJpLjA";
const RFC_TOKEN: &str = "Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU";
const RFC_IAT: u64 = 1_562_262_618;

fn rfc_request(proof: &str) -> (HeaderMap, Method, Uri) {
    let mut headers = HeaderMap::new();
    headers.insert("host", "resource.example.org".parse().unwrap());
    headers.insert("dpop", proof.parse().unwrap());
    let uri: Uri = "/protectedresource".parse().unwrap();
    (headers, Method::GET, uri)
}

#[test]
fn verifies_rfc_9449s_own_example() {
    let dpop = Dpop::builder()
        .public_url("https://resource.example.org")
        .build()
        .unwrap();
    let (headers, method, uri) = rfc_request(RFC_PROOF);
    let proof = dpop
        .verify(&headers, &method, &uri, RFC_TOKEN, RFC_IAT)
        .unwrap();
    assert_eq!(proof.jkt, "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I");

    // Each mutation of the context is refused by its own check.
    let refused =
        |dpop: &Dpop, headers: &HeaderMap, method: &Method, uri: &Uri, token: &str, now| match dpop
            .verify(headers, method, uri, token, now)
        {
            Err(Error::Binding(BindingError::InvalidProof(reason))) => reason,
            other => panic!("{other:?}"),
        };
    assert_eq!(
        refused(&dpop, &headers, &Method::POST, &uri, RFC_TOKEN, RFC_IAT),
        ProofError::WrongMethod
    );
    let other: Uri = "/other".parse().unwrap();
    assert_eq!(
        refused(&dpop, &headers, &method, &other, RFC_TOKEN, RFC_IAT),
        ProofError::WrongUrl
    );
    assert_eq!(
        refused(&dpop, &headers, &method, &uri, "another-token", RFC_IAT),
        ProofError::WrongTokenHash
    );
    assert_eq!(
        refused(&dpop, &headers, &method, &uri, RFC_TOKEN, RFC_IAT + 61),
        ProofError::OutsideWindow
    );
    assert_eq!(
        refused(&dpop, &headers, &method, &uri, RFC_TOKEN, RFC_IAT - 6),
        ProofError::OutsideWindow
    );
    // From the request itself (no public URL), `http` is not the proof's `https`.
    let from_request = Dpop::default();
    assert_eq!(
        refused(&from_request, &headers, &method, &uri, RFC_TOKEN, RFC_IAT),
        ProofError::WrongUrl
    );
    // A query on the request is ignored; a tampered signature is not.
    let with_query: Uri = "/protectedresource?page=2".parse().unwrap();
    assert!(
        dpop.verify(&headers, &method, &with_query, RFC_TOKEN, RFC_IAT)
            .is_ok()
    );
    let mut tampered = RFC_PROOF.to_owned();
    tampered.replace_range(tampered.len() - 3.., "AAA");
    let (headers, method, uri) = rfc_request(&tampered);
    assert_eq!(
        refused(&dpop, &headers, &method, &uri, RFC_TOKEN, RFC_IAT),
        ProofError::BadSignature
    );
}

#[test]
fn rfc_7638_thumbprint_example() {
    let jwk: Value = serde_json::from_str(r#"{"kty":"RSA","n":"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw","e":"AQAB","alg":"RS256","kid":"2011-04-29"}"#).unwrap();
    assert_eq!(
        thumbprint(&jwk).as_deref(),
        Some("NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs")
    );
}

#[test]
fn rfc_9449_key_thumbprint_and_token_hash() {
    // RFC 9449 §6.1 and §7.1's example key and access token.
    let jwk: Value = serde_json::from_str(r#"{"kty":"EC","x":"l8tFrhx-34tV3hRICRDY9zCkDlpBhF42UQUfWVAWBFs","y":"9VE4jf_Ok_o64zbTTlcuNJajHmt6v9TDVrU0CdvGRDA","crv":"P-256"}"#).unwrap();
    assert_eq!(
        thumbprint(&jwk).as_deref(),
        Some("0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I")
    );
    assert_eq!(
        token_hash("Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU"),
        "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo"
    );
}

#[test]
fn urls_compare_after_normalisation() {
    let request = normalize_url("https://resource.example.org/protectedresource").unwrap();
    for same in [
        "HTTPS://Resource.Example.ORG/protectedresource",
        "https://resource.example.org:443/protectedresource",
        "https://resource.example.org/%70rotectedresource",
        "https://resource.example.org/x/../protectedresource",
        "https://resource.example.org/./protectedresource",
        "https://resource.example.org/protectedresource?query=1#fragment",
    ] {
        assert_eq!(normalize_url(same).as_deref(), Some(&*request), "{same}");
    }
    for other in [
        "https://resource.example.org/Protectedresource",
        "https://resource.example.org:8443/protectedresource",
        "http://resource.example.org/protectedresource",
        "https://other.example.org/protectedresource",
    ] {
        assert_ne!(normalize_url(other).as_deref(), Some(&*request), "{other}");
    }
    // §6.2.3: these are the same.
    let root = normalize_url("http://example.com").unwrap();
    for same in [
        "http://example.com/",
        "http://example.com:/",
        "http://example.com:80/",
    ] {
        assert_eq!(normalize_url(same).as_deref(), Some(&*root), "{same}");
    }
    assert_eq!(
        normalize_url("http://[::1]:80/a%2fb").as_deref(),
        Some("http://[::1]/a%2Fb")
    );
    assert_eq!(normalize_url("ftp://x/"), None);
    assert_eq!(normalize_url("https://user@x/"), None);
    assert_eq!(normalize_url("https://x/%zz"), None);
}

#[test]
fn a_proof_is_accepted_once_within_its_window() {
    let cache = InMemoryProofReplay::with_capacity(200);
    let now = crate::clock::unix_secs(&crate::clock::SystemClock);
    let key = ProofKey([1; 32]);
    assert!(cache.record("a", key, now, now + 60).unwrap());
    assert!(!cache.record("a", key, now, now + 60).unwrap());
    assert!(cache.record("b", ProofKey([2; 32]), now, now + 60).unwrap());
    // An expired entry not yet swept is replaced.
    assert!(
        cache
            .record("c", ProofKey([3; 32]), now, now.saturating_sub(1))
            .unwrap()
    );
    assert!(cache.record("c", ProofKey([3; 32]), now, now + 60).unwrap());
}

#[test]
fn one_client_key_cannot_fill_the_cache() {
    let cache = InMemoryProofReplay::with_capacity(300);
    let now = crate::clock::unix_secs(&crate::clock::SystemClock);
    // A hundredth of the capacity per key per minute: 3 proofs.
    for i in 0..3u8 {
        assert!(
            cache
                .record("greedy", ProofKey([i; 32]), now, now + 60)
                .unwrap()
        );
    }
    assert!(matches!(
        cache.record("greedy", ProofKey([9; 32]), now, now + 60),
        Err(ReplayCacheError::KeyQuota)
    ));
    assert!(
        cache
            .record("polite", ProofKey([10; 32]), now, now + 60)
            .unwrap()
    );
    // The cache itself is bounded too.
    let full = InMemoryProofReplay::with_capacity(100);
    for i in 0..100u8 {
        assert!(
            full.record(&format!("k{i}"), ProofKey([i; 32]), now, now + 60)
                .unwrap()
        );
    }
    assert!(matches!(
        full.record("late", ProofKey([200; 32]), now, now + 60),
        Err(ReplayCacheError::Full)
    ));
}

/// The replay key is the SHA-256 of the URL, a zero byte and the `jti`, whether the text fits
/// on the stack or not.
#[test]
fn the_replay_key_hashes_the_url_and_the_jti() {
    let reference = |url: &str, jti: &str| {
        let text = format!("{url}\0{jti}");
        let digest = digest::digest(&digest::SHA256, text.as_bytes());
        <[u8; 32]>::try_from(digest.as_ref()).unwrap()
    };
    let long = format!("https://api.example.com/{}", "a".repeat(2000));
    for (url, jti) in [
        ("https://api.example.com/orders", "e1j3V_bKic8-LAEB"),
        (long.as_str(), "e1j3V_bKic8-LAEB"),
        ("https://api.example.com/orders", ""),
    ] {
        assert_eq!(replay_key(url, jti), reference(url, jti), "{url}");
    }
    assert_ne!(
        replay_key("https://api.example.com/a", "b"),
        replay_key("https://api.example.com/", "ab")
    );
}
