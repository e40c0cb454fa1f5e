//! The token's binding to its client (RFC 7800 `cnf`) was not proven: DPoP (RFC 9449) and
//! certificate-bound tokens (RFC 8705). Answered 401: `invalid_dpop_proof` or `use_dpop_nonce`
//! on the DPoP challenge, `invalid_token` otherwise.

/// Why a token's binding to its client was not proven, or a binding rule refused it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum BindingError {
    /// The token is sender-constrained (`cnf`, RFC 7800) and came without its proof: a DPoP-bound
    /// token sent as a bearer token, a certificate-bound token without its client certificate,
    /// or a confirmation method warden does not verify. Refused rather than accepted as a bearer
    /// token that anyone holding it could use (RFC 9449 §7.2, RFC 8705 §3). Answered 401
    /// `invalid_token`.
    Unverified(Binding),
    /// A bound token (`cnf`) validated outside a request
    /// ([`Validator::validate`](crate::Validator::validate)): its proof of possession cannot be
    /// checked there, so it is refused.
    OutsideRequest(Binding),
    /// The request's DPoP proof is missing or invalid (RFC 9449 §4.3). Answered 401
    /// `invalid_dpop_proof` on the DPoP challenge.
    InvalidProof(ProofError),
    /// Server nonces are on and the proof carries no current nonce (RFC 9449 §9). Answered 401
    /// `use_dpop_nonce` with a fresh nonce in `DPoP-Nonce`.
    UseNonce {
        /// The nonce the client must put in its next proof.
        nonce: String,
    },
    /// The DPoP proof's key is not the one the token is bound to (`cnf.jkt`). Answered 401
    /// `invalid_token`, "Invalid DPoP key binding" (RFC 9449 §7.1's example).
    DpopKeyMismatch,
    /// The connection's client certificate is not the one the token is bound to
    /// (`cnf.x5t#S256`, RFC 8705 §3). Answered 401 `invalid_token`.
    CertificateMismatch,
    /// The token's issuer requires DPoP
    /// ([`DpopPolicy::Required`](crate::issuer::DpopPolicy::Required)) and the token is not
    /// DPoP-bound. Answered 401 `invalid_token`.
    DpopRequired,
    /// A DPoP-bound token where DPoP is not accepted: its issuer refuses DPoP
    /// ([`DpopPolicy::Refused`](crate::issuer::DpopPolicy::Refused)), or the layer is bearer-only
    /// and it came with the `DPoP` scheme. Answered 401 `invalid_token`.
    DpopNotAccepted,
    /// A token without a DPoP binding was presented with the `DPoP` scheme. Answered 401
    /// `invalid_token` on the DPoP challenge.
    NotDpopBound,
}

impl BindingError {
    /// The fixed phrase sent in `error_description`.
    pub fn description(&self) -> &'static str {
        match self {
            BindingError::Unverified(Binding::DpopKey) => {
                "DPoP-bound token (cnf.jkt) sent as a bearer token"
            }
            BindingError::Unverified(Binding::Certificate) => {
                "certificate-bound token (cnf.x5t#S256) sent as a bearer token"
            }
            BindingError::Unverified(Binding::Other) => {
                "token bound by an unsupported confirmation method (cnf)"
            }
            BindingError::OutsideRequest(_) => {
                "bound token: its proof of possession is checked only in a request"
            }
            BindingError::InvalidProof(proof) => proof.description(),
            BindingError::UseNonce { .. } => "Resource server requires nonce in DPoP proof",
            BindingError::DpopKeyMismatch => "Invalid DPoP key binding",
            BindingError::CertificateMismatch => "client certificate does not match the token",
            BindingError::DpopRequired => "this issuer's tokens must be DPoP-bound",
            BindingError::DpopNotAccepted => "DPoP is not accepted for this token",
            BindingError::NotDpopBound => "token is not DPoP-bound",
        }
    }

    /// A stable, machine-friendly name, as recorded in tracing spans.
    pub fn kind(&self) -> &'static str {
        match self {
            BindingError::Unverified(_) => "unverified_binding",
            BindingError::OutsideRequest(_) => "bound_outside_request",
            BindingError::InvalidProof(_) => "invalid_dpop_proof",
            BindingError::UseNonce { .. } => "use_dpop_nonce",
            BindingError::DpopKeyMismatch => "dpop_key_mismatch",
            BindingError::CertificateMismatch => "certificate_mismatch",
            BindingError::DpopRequired => "dpop_required",
            BindingError::DpopNotAccepted => "dpop_not_accepted",
            BindingError::NotDpopBound => "not_dpop_bound",
        }
    }
}

impl From<ProofError> for BindingError {
    fn from(proof: ProofError) -> Self {
        BindingError::InvalidProof(proof)
    }
}

/// How a sender-constrained token is bound to its client (the member of its `cnf` claim).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Binding {
    /// `cnf.jkt`: the thumbprint of a DPoP key (RFC 9449 §6).
    DpopKey,
    /// `cnf.x5t#S256`: the thumbprint of a client certificate (RFC 8705 §3).
    Certificate,
    /// Any other confirmation method (`jwk`, `jwe`, `jku`, `kid` of RFC 7800, or one not yet
    /// registered).
    Other,
}

/// What is wrong with a DPoP proof (RFC 9449 §4.3); each is answered 401 `invalid_dpop_proof`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProofError {
    /// No `DPoP` header.
    Missing,
    /// More than one `DPoP` header.
    Multiple,
    /// Not a compact JWS with a JSON header and claims, or a key-pointing header member.
    Malformed,
    /// `typ` is not `dpop+jwt`.
    WrongType,
    /// `alg` missing, symmetric, `none` or not allowed.
    DisallowedAlgorithm,
    /// The header's `jwk` holds private key material.
    PrivateKey,
    /// The header's `jwk` is missing or not a usable public key.
    BadKey,
    /// The signature does not verify with the header's `jwk`.
    BadSignature,
    /// `jti`, `htm`, `htu`, `iat` or `ath` is missing or of the wrong type.
    MissingClaim,
    /// `jti` is longer than 256 bytes.
    JtiTooLong,
    /// `htm` is not the request's method.
    WrongMethod,
    /// `htu` is not the request's URL.
    WrongUrl,
    /// `iat` is too old or too far in the future.
    OutsideWindow,
    /// `ath` is not the hash of the access token.
    WrongTokenHash,
    /// The proof was already used.
    Replayed,
}

impl ProofError {
    /// The fixed phrase sent in `error_description`.
    pub fn description(self) -> &'static str {
        match self {
            ProofError::Missing => "DPoP proof missing",
            ProofError::Multiple => "more than one DPoP proof",
            ProofError::Malformed => "malformed DPoP proof",
            ProofError::WrongType => "DPoP proof typ must be dpop+jwt",
            ProofError::DisallowedAlgorithm => "DPoP proof algorithm not allowed",
            ProofError::PrivateKey => "DPoP proof key holds private material",
            ProofError::BadKey => "DPoP proof key unusable",
            ProofError::BadSignature => "invalid DPoP proof signature",
            ProofError::MissingClaim => "DPoP proof lacks a required claim",
            ProofError::JtiTooLong => "DPoP proof jti too long",
            ProofError::WrongMethod => "DPoP proof htm does not match the request",
            ProofError::WrongUrl => "DPoP proof htu does not match the request",
            ProofError::OutsideWindow => "DPoP proof iat outside the accepted window",
            ProofError::WrongTokenHash => "DPoP proof ath does not match the access token",
            ProofError::Replayed => "DPoP proof replayed",
        }
    }

    /// A stable, machine-friendly name, as the `reason` of warden's DPoP refusal metric.
    pub fn kind(self) -> &'static str {
        match self {
            ProofError::Missing => "proof_missing",
            ProofError::Multiple => "proof_multiple",
            ProofError::Malformed => "proof_malformed",
            ProofError::WrongType => "proof_wrong_type",
            ProofError::DisallowedAlgorithm => "proof_disallowed_algorithm",
            ProofError::PrivateKey => "proof_private_key",
            ProofError::BadKey => "proof_bad_key",
            ProofError::BadSignature => "proof_bad_signature",
            ProofError::MissingClaim => "proof_missing_claim",
            ProofError::JtiTooLong => "proof_jti_too_long",
            ProofError::WrongMethod => "proof_wrong_method",
            ProofError::WrongUrl => "proof_wrong_url",
            ProofError::OutsideWindow => "proof_outside_window",
            ProofError::WrongTokenHash => "proof_wrong_token_hash",
            ProofError::Replayed => "proof_replayed",
        }
    }
}
