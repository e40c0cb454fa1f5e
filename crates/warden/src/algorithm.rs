//! The JWS signing algorithms warden verifies: asymmetric only, so HMAC (`HS256` and kin) and
//! `none` cannot even be named.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A JWS signature algorithm (RFC 7518 §3.1, RFC 8037 §3.1) that warden verifies through
/// aws-lc-rs. There is no HMAC variant and no `none`: a resource server holds public keys only,
/// and a symmetric algorithm on a token is refused before any key is looked at.
///
/// ```
/// use warden::Algorithm;
///
/// assert_eq!("PS256".parse::<Algorithm>(), Ok(Algorithm::PS256));
/// assert!("HS256".parse::<Algorithm>().is_err());
/// assert!("none".parse::<Algorithm>().is_err());
/// assert_eq!(Algorithm::EdDSA.as_str(), "EdDSA");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(clippy::upper_case_acronyms)]
#[non_exhaustive]
pub enum Algorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    RS256,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    RS384,
    /// RSASSA-PKCS1-v1_5 with SHA-512.
    RS512,
    /// RSASSA-PSS with SHA-256.
    PS256,
    /// RSASSA-PSS with SHA-384.
    PS384,
    /// RSASSA-PSS with SHA-512.
    PS512,
    /// ECDSA on P-256 with SHA-256.
    ES256,
    /// ECDSA on P-384 with SHA-384.
    ES384,
    /// EdDSA with Ed25519.
    EdDSA,
}

impl Algorithm {
    /// Every algorithm, in the order of [`DEFAULT_ALGORITHMS`].
    pub const ALL: [Algorithm; 9] = [
        Algorithm::RS256,
        Algorithm::RS384,
        Algorithm::RS512,
        Algorithm::PS256,
        Algorithm::PS384,
        Algorithm::PS512,
        Algorithm::ES256,
        Algorithm::ES384,
        Algorithm::EdDSA,
    ];

    /// The `alg` value, exactly as JOSE writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::RS256 => "RS256",
            Algorithm::RS384 => "RS384",
            Algorithm::RS512 => "RS512",
            Algorithm::PS256 => "PS256",
            Algorithm::PS384 => "PS384",
            Algorithm::PS512 => "PS512",
            Algorithm::ES256 => "ES256",
            Algorithm::ES384 => "ES384",
            Algorithm::EdDSA => "EdDSA",
        }
    }
}

/// The algorithms an issuer accepts unless told otherwise: every one warden verifies. ES512
/// (P-521) is not among them.
pub const DEFAULT_ALGORITHMS: &[Algorithm] = &Algorithm::ALL;

/// An `alg` value that names no algorithm warden verifies (HMAC, `none`, ES512, another case).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnsupportedAlgorithm;

impl fmt::Display for UnsupportedAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("not an asymmetric JWS algorithm warden verifies")
    }
}

impl std::error::Error for UnsupportedAlgorithm {}

impl FromStr for Algorithm {
    type Err = UnsupportedAlgorithm;

    /// Parses an `alg` value, case-sensitively (RFC 7515 §4.1.1).
    fn from_str(text: &str) -> Result<Self, UnsupportedAlgorithm> {
        Algorithm::ALL
            .into_iter()
            .find(|alg| alg.as_str() == text)
            .ok_or(UnsupportedAlgorithm)
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Algorithm {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Algorithm {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_exactly_the_asymmetric_names() {
        for alg in Algorithm::ALL {
            assert_eq!(alg.as_str().parse(), Ok(alg));
        }
        for other in [
            "HS256", "HS384", "HS512", "none", "None", "rs256", "ES512", "", "RS256 ",
        ] {
            assert_eq!(
                other.parse::<Algorithm>(),
                Err(UnsupportedAlgorithm),
                "{other}"
            );
        }
    }
}
