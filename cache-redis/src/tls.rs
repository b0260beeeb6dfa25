//! TLS for `rediss://` URLs, through rustls (no OpenSSL on the user's machine): the system's
//! root certificates by default, or the builder's CA certificates instead, and optionally a
//! client certificate (mutual TLS). `rediss://host/#insecure` skips certificate checks (tests).
//!
//! The same settings apply to every connection of a `RedisL2`: data, backplane, cluster nodes,
//! sentinels and the master they name.

use std::sync::Arc;

use redis::{ConnectionAddr, ConnectionInfo, TlsCertificates};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::error::Error;

/// Certificates set on the builder (PEM), checked by [`TlsOptions::validate`].
#[derive(Clone, Default)]
pub(crate) struct TlsOptions {
    /// CA certificates trusted instead of the system's roots.
    pub(crate) ca: Option<Arc<[u8]>>,
    /// A client certificate, for servers that require one.
    pub(crate) client: Option<ClientCertificate>,
}

/// A client certificate chain and its private key (PEM).
#[derive(Clone)]
pub(crate) struct ClientCertificate {
    pub(crate) chain: Arc<[u8]>,
    pub(crate) key: Arc<[u8]>,
}

impl std::fmt::Debug for TlsOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print a key.
        f.debug_struct("TlsOptions")
            .field("ca", &self.ca.is_some())
            .field("client_certificate", &self.client.is_some())
            .finish()
    }
}

impl TlsOptions {
    /// Whether any certificate was set.
    pub(crate) fn is_set(&self) -> bool {
        self.ca.is_some() || self.client.is_some()
    }

    /// Checks that the PEM given parses: a bad certificate is a configuration error, not a
    /// connection failure later.
    pub(crate) fn validate(&self) -> Result<(), Error> {
        if let Some(ca) = &self.ca {
            certificates("tls_ca_certificates", ca)?;
        }
        if let Some(ClientCertificate { chain, key }) = &self.client {
            certificates("tls_client_certificate", chain)?;
            PrivateKeyDer::from_pem_slice(key).map_err(|error| {
                Error::config(
                    "tls_client_certificate",
                    format!("has no readable private key in PEM: {error}"),
                )
            })?;
        }
        Ok(())
    }

    /// The certificates in the form redis-rs takes them, if any was set.
    pub(crate) fn certificates(&self) -> Option<TlsCertificates> {
        self.is_set().then(|| TlsCertificates {
            client_tls: self.client.as_ref().map(|client| redis::ClientTlsConfig {
                client_cert: client.chain.to_vec(),
                client_key: client.key.to_vec(),
            }),
            root_cert: self.ca.as_ref().map(|ca| ca.to_vec()),
        })
    }

    /// A client for `info`, with the certificates when the address uses TLS.
    pub(crate) fn client(&self, info: ConnectionInfo) -> Result<redis::Client, Error> {
        match self.certificates() {
            Some(certificates) if uses_tls(info.addr()) => {
                redis::Client::build_with_tls(info, certificates).map_err(Error::Client)
            }
            _ => redis::Client::open(info).map_err(Error::Client),
        }
    }
}

/// Whether an address is reached over TLS.
pub(crate) fn uses_tls(address: &ConnectionAddr) -> bool {
    matches!(address, ConnectionAddr::TcpTls { .. })
}

/// Makes sure rustls has a process-wide crypto provider (ring, unless the application
/// installed another), so that building a TLS configuration never panics.
pub(crate) fn install_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Another thread may install one at the same moment: either is fine.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

/// Whether a redis-rs error comes from a failed TLS handshake (an untrusted certificate, a
/// wrong host name, a refused client certificate).
pub(crate) fn is_handshake_failure(error: &redis::RedisError) -> bool {
    type Shared = Arc<dyn std::error::Error + Send + Sync>;
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(current) = source {
        // redis-rs keeps the I/O error behind an `Arc`; the I/O error keeps rustls's inside.
        let current = match current.downcast_ref::<Shared>() {
            Some(shared) => shared.as_ref() as &(dyn std::error::Error + 'static),
            None => current,
        };
        let inner = current
            .downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::get_ref);
        if current.is::<rustls::Error>() || inner.is_some_and(|inner| inner.is::<rustls::Error>()) {
            return true;
        }
        source = current.source();
    }
    false
}

/// The certificates of a PEM text: at least one, each readable.
fn certificates(setting: &'static str, pem: &[u8]) -> Result<(), Error> {
    let mut count = 0;
    for certificate in CertificateDer::pem_slice_iter(pem) {
        certificate.map_err(|error| {
            Error::config(setting, format!("has an unreadable certificate: {error}"))
        })?;
        count += 1;
    }
    if count == 0 {
        return Err(Error::config(setting, "holds no PEM certificate"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_pem_is_a_configuration_error() {
        let options = TlsOptions {
            ca: Some(Arc::from(&b"not a certificate"[..])),
            client: None,
        };
        let error = options.validate().unwrap_err().to_string();
        assert!(error.contains("tls_ca_certificates"), "{error}");
        assert!(error.contains("no PEM certificate"), "{error}");
        assert!(format!("{options:?}").contains("ca: true"));
    }
}
