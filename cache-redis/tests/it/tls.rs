//! TLS (rustls) against a real `redis-server` with certificates the test makes: a custom CA,
//! a client certificate, `#insecure`, and the errors of a certificate Redis or the client
//! does not accept.

use std::time::Duration;

use cache_core::Codec;
use cache_redis::test_util::RedisServer;
use cache_redis::{Error, RedisL2};

use crate::certs::Certs;
use crate::common::{assert_shared_and_coherent, node_from, raw, test_builder, within_limit};

fn tls_server(certs: &Certs, require_client: bool) -> RedisServer {
    let args = certs.server_args(require_client);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    RedisServer::start_tls(&args).unwrap()
}

#[tokio::test]
async fn mutual_tls_with_a_custom_ca_carries_data_and_backplane() {
    within_limit(async {
        let dir = tempfile::tempdir().unwrap();
        let certs = Certs::generate(dir.path());
        let server = tls_server(&certs, true);
        let url = server.tls_url().unwrap();
        let builder = || {
            test_builder()
                .url(&url)
                .tls_ca_certificates(certs.ca_pem.clone())
                .tls_client_certificate(certs.client_pem.clone(), certs.client_key_pem.clone())
        };
        let (a, la) = node_from(builder(), "tls", Codec::bincode()).await;
        let (b, _lb) = node_from(builder(), "tls", Codec::bincode()).await;
        assert!(la.backplane_connected());
        assert_shared_and_coherent(&a, &b, "k").await;
        a.set("seen", 7u32, &cache_core::EntryOptions::new()).await;
        // The value is in Redis (read over the plain port).
        let mut redis = raw(&server.url()).await;
        let exists: u32 = redis::cmd("EXISTS")
            .arg("tls:seen")
            .query_async(&mut redis)
            .await
            .unwrap();
        assert_eq!(exists, 1);
        assert_eq!(a.stats().l2_errors + b.stats().l2_errors, 0);
    })
    .await;
}

#[tokio::test]
async fn insecure_skips_the_certificate_check() {
    within_limit(async {
        let dir = tempfile::tempdir().unwrap();
        let certs = Certs::generate(dir.path());
        let server = tls_server(&certs, false);
        let url = format!("{}#insecure", server.tls_url().unwrap());
        let (a, _la) = node_from(test_builder().url(&url), "ins", Codec::bincode()).await;
        let (b, _lb) = node_from(test_builder().url(&url), "ins", Codec::bincode()).await;
        assert_shared_and_coherent(&a, &b, "k").await;
    })
    .await;
}

#[tokio::test]
async fn an_untrusted_certificate_is_an_error_from_build() {
    within_limit(async {
        let dir = tempfile::tempdir().unwrap();
        let certs = Certs::generate(dir.path());
        let server = tls_server(&certs, false);
        let connect_timeout = Duration::from_secs(1);
        // The system roots do not know the test's CA.
        let built = tokio::time::timeout(
            connect_timeout * 3,
            RedisL2::builder()
                .url(server.tls_url().unwrap())
                .connect_timeout(connect_timeout)
                .build(),
        )
        .await
        .expect("build returns within the connect timeout");
        let error = built.unwrap_err();
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
