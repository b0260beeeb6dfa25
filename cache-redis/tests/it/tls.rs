//! TLS (rustls) against a real `redis-server` with certificates the test makes: a custom CA,
//! a client certificate, `#insecure`, and the errors of a certificate Redis or the client
//! does not accept.

use std::time::Duration;

use cache_redis::test_util::RedisServer;
use cache_redis::{Error, RedisL2};
use tempfile::TempDir;

use crate::certs::Certs;
use crate::common::{build_within, coherent_pair, keys_per_node, test_builder, within_limit};

/// A TLS server with new certificates (kept in the directory returned).
pub fn tls_server(require_client: bool) -> (TempDir, Certs, RedisServer) {
    let dir = tempfile::tempdir().unwrap();
    let certs = Certs::generate(dir.path());
    let args = certs.server_args(require_client);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let server = RedisServer::start_tls(&args).unwrap();
    (dir, certs, server)
}

#[tokio::test]
async fn mutual_tls_with_a_custom_ca_carries_data_and_backplane() {
    within_limit(async {
        let (_dir, certs, server) = tls_server(true);
        let url = server.tls_url().unwrap();
        let builder = || {
            test_builder()
                .url(&url)
                .tls_ca_certificates(certs.ca_pem.clone())
                .tls_client_certificate(certs.client_pem.clone(), certs.client_key_pem.clone())
        };
        let (a, b) = coherent_pair(builder, "tls").await;
        a.set("seen", 7u32, &cache_core::EntryOptions::new()).await;
        // The value is in Redis (read over the plain port).
        assert_eq!(keys_per_node(&[server.url()], "tls:seen").await, [1]);
        assert_eq!(a.stats().l2_errors + b.stats().l2_errors, 0);
    })
    .await;
}

#[tokio::test]
async fn insecure_skips_the_certificate_check() {
    within_limit(async {
        let (_dir, _certs, server) = tls_server(false);
        let url = format!("{}#insecure", server.tls_url().unwrap());
        coherent_pair(|| test_builder().url(&url), "ins").await;
    })
    .await;
}

#[tokio::test]
async fn an_untrusted_certificate_is_an_error_from_build() {
    within_limit(async {
        let (_dir, _certs, server) = tls_server(false);
        // The system roots do not know the test's CA.
        let url = server.tls_url().unwrap();
        let error = build_within(&url, Duration::from_secs(1))
            .await
            .unwrap_err();
        assert!(matches!(error, Error::TlsHandshake(_)), "{error}");
        // Another CA's certificate is refused the same way.
        let other = tempfile::tempdir().unwrap();
        let other = Certs::generate(other.path());
        let built = RedisL2::builder()
            .url(server.tls_url().unwrap())
            .tls_ca_certificates(other.ca_pem.clone())
            .build()
            .await;
        assert!(matches!(built, Err(Error::TlsHandshake(_))), "{built:?}");
    })
    .await;
}

#[tokio::test]
async fn bad_certificate_settings_are_configuration_errors() {
    let built = RedisL2::builder()
        .url("rediss://127.0.0.1:1/")
        .tls_ca_certificates("not a certificate")
        .build()
        .await;
    let error = built.unwrap_err().to_string();
    assert!(error.contains("tls_ca_certificates"), "{error}");

    let dir = tempfile::tempdir().unwrap();
    let certs = Certs::generate(dir.path());
    let built = RedisL2::builder()
        .url("rediss://127.0.0.1:1/")
        .tls_client_certificate(certs.client_pem.clone(), "no key here")
        .build()
        .await;
    let error = built.unwrap_err().to_string();
    assert!(error.contains("tls_client_certificate"), "{error}");

    // Certificates for a URL that is not TLS are a mistake worth a clear error.
    let built = RedisL2::builder()
        .url("redis://127.0.0.1:1/")
        .tls_ca_certificates(certs.ca_pem.clone())
        .build()
        .await;
    let error = built.unwrap_err().to_string();
    assert!(error.contains("rediss://"), "{error}");
}
