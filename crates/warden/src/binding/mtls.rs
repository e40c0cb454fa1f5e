//! Certificate-bound access tokens (RFC 8705 §3): a token whose `cnf.x5t#S256` names the client
//! certificate it was issued to is accepted only over a connection that presented that
//! certificate.
//!
//! warden does not terminate TLS: the application puts the certificate the TLS layer saw into
//! the request's extensions as a [`ClientCertificate`] (from axum-server with rustls, or from a
//! trusted proxy's header, checked by the application). Without one, certificate-bound tokens are
//! refused, as before: the feature is off until the application turns it on by supplying the
//! certificate.
//!
//! ```
//! use warden::mtls::ClientCertificate;
//!
//! # let der: Vec<u8> = vec![0x30, 0x03, 0x02, 0x01, 0x01];
//! let mut request = http::Request::new(());
//! request.extensions_mut().insert(ClientCertificate::from_der(der));
//! ```

use aws_lc_rs::digest;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// The client certificate of the request's TLS connection (DER), set by the application.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientCertificate {
    thumbprint: String,
}

impl ClientCertificate {
    /// The certificate, DER-encoded, as the TLS layer received it.
    pub fn from_der(der: impl AsRef<[u8]>) -> Self {
        ClientCertificate {
            thumbprint: URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, der.as_ref())),
        }
    }

    /// `x5t#S256`: base64url (unpadded) SHA-256 of the DER (RFC 8705 §3.1).
    pub fn thumbprint(&self) -> &str {
        &self.thumbprint
    }
}

impl std::fmt::Debug for ClientCertificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientCertificate")
            .field("x5t#S256", &self.thumbprint)
            .finish()
    }
}
