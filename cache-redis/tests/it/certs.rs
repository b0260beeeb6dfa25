//! Certificates made for a test: a CA, a server certificate for `127.0.0.1` and a client
//! certificate it signs, written as PEM files for `redis-server`.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

/// PEM texts and the files holding them.
pub struct Certs {
    pub ca_pem: String,
    pub client_pem: String,
    pub client_key_pem: String,
    pub ca_file: PathBuf,
    pub server_file: PathBuf,
    pub server_key_file: PathBuf,
}

impl Certs {
    /// A new CA and its certificates, in `dir`.
    pub fn generate(dir: &Path) -> Self {
        let mut ca_params = CertificateParams::new(Vec::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "cache-redis test CA");
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca_key = KeyPair::generate().unwrap();
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca_params, ca_key);

        let leaf = |name: &str, purpose: ExtendedKeyUsagePurpose| {
            let mut params =
                CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
                    .unwrap();
            params.distinguished_name.push(DnType::CommonName, name);
            params.extended_key_usages = vec![purpose];
            let key = KeyPair::generate().unwrap();
            let certificate = params.signed_by(&key, &issuer).unwrap();
            (certificate.pem(), key.serialize_pem())
        };
        let (server_pem, server_key_pem) =
            leaf("redis server", ExtendedKeyUsagePurpose::ServerAuth);
        let (client_pem, client_key_pem) =
            leaf("cache client", ExtendedKeyUsagePurpose::ClientAuth);

        let write = |name: &str, text: &str| {
            let path = dir.join(name);
            std::fs::write(&path, text).unwrap();
            path
        };
        Self {
            ca_file: write("ca.pem", &ca.pem()),
            server_file: write("server.pem", &server_pem),
            server_key_file: write("server.key", &server_key_pem),
            ca_pem: ca.pem(),
            client_pem,
            client_key_pem,
        }
    }

    /// `redis-server` arguments for TLS with these files; `require_client` sets
    /// `tls-auth-clients`.
    pub fn server_args(&self, require_client: bool) -> Vec<String> {
        let path = |p: &PathBuf| p.display().to_string();
        vec![
            "--tls-cert-file".into(),
            path(&self.server_file),
            "--tls-key-file".into(),
            path(&self.server_key_file),
            "--tls-ca-cert-file".into(),
            path(&self.ca_file),
            "--tls-auth-clients".into(),
            if require_client { "yes" } else { "no" }.into(),
        ]
    }
}
