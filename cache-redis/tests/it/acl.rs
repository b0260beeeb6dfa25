//! ACL users: `redis://user:password@host` for data and backplane, and a wrong password as a
//! clear error from `build()` within the connect timeout.

use std::time::Duration;

use cache_redis::test_util::RedisServer;
use cache_redis::{Error, RedisL2};

use crate::common::{build_within, coherent_pair, test_builder, within_limit};
use crate::tls::tls_server;

/// A user that may run everything on every key and channel.
fn add_user(server: &RedisServer, user: &str, password: &str) {
    let _: () = server
        .command(
            redis::cmd("ACL")
                .arg("SETUSER")
                .arg(user)
                .arg("on")
                .arg(format!(">{password}"))
                .arg("~*")
                .arg("&*")
                .arg("+@all"),
        )
        .unwrap();
}

fn with_credentials(url: &str, user: &str, password: &str) -> String {
    url.replacen("://", &format!("://{user}:{password}@"), 1)
}

#[tokio::test]
async fn an_acl_user_carries_data_and_backplane() {
    within_limit(async {
        let server = RedisServer::start().unwrap();
        add_user(&server, "app", "s3cret");
        // The default user may run nothing: data and backplane must log in as "app".
        let _: () = server
            .command(
                redis::cmd("ACL")
                    .arg("SETUSER")
                    .arg("default")
                    .arg("resetpass")
                    .arg("nopass")
                    .arg("-@all"),
            )
            .unwrap();
        let url = with_credentials(&server.url(), "app", "s3cret");
        let (a, b) = coherent_pair(|| test_builder().url(&url), "acl").await;
        assert_eq!(a.stats().l2_errors + b.stats().l2_errors, 0);
    })
    .await;
}

#[tokio::test]
async fn a_wrong_password_is_an_error_from_build_within_the_connect_timeout() {
    within_limit(async {
        let server = RedisServer::start().unwrap();
        add_user(&server, "app", "s3cret");
        let connect_timeout = Duration::from_millis(800);
        for url in [
            with_credentials(&server.url(), "app", "wrong"),
            with_credentials(&server.url(), "nobody", "s3cret"),
        ] {
            let error = build_within(&url, connect_timeout).await.unwrap_err();
            assert!(matches!(error, Error::Authentication(_)), "{url}: {error}");
            assert!(error.to_string().contains("credentials"), "{error}");
        }
    })
    .await;
}

#[tokio::test]
async fn an_acl_user_over_tls() {
    within_limit(async {
        let (_dir, certs, server) = tls_server(false);
        add_user(&server, "app", "s3cret");
        let url = with_credentials(&server.tls_url().unwrap(), "app", "s3cret");
        let builder = || {
            test_builder()
                .url(&url)
                .tls_ca_certificates(certs.ca_pem.clone())
        };
        coherent_pair(builder, "tacl").await;
        let wrong = with_credentials(&server.tls_url().unwrap(), "app", "wrong");
        let built = RedisL2::builder()
            .url(wrong)
            .tls_ca_certificates(certs.ca_pem.clone())
            .build()
            .await;
        assert!(matches!(built, Err(Error::Authentication(_))), "{built:?}");
    })
    .await;
}
