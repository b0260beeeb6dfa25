//! Bad configuration is an `Error` from `build()`, never a panic; the global default.

use std::time::Duration;

use cache_core::{Cache, Error};

fn rejected(builder: cache_core::CacheBuilder, setting: &str) {
    match builder.build() {
        Err(Error::InvalidConfig { setting: s, .. }) => assert_eq!(s, setting),
        other => panic!("expected InvalidConfig for {setting}, got {other:?}"),
    }
}

#[test]
fn out_of_range_settings_are_errors() {
    rejected(Cache::builder().l1_max_capacity(0), "l1_max_capacity");
    rejected(Cache::builder().default_ttl(Duration::ZERO), "default_ttl");
    rejected(Cache::builder().refresh_ahead(0.0), "refresh_ahead");
    rejected(Cache::builder().refresh_ahead(1.0), "refresh_ahead");
    rejected(Cache::builder().refresh_ahead(f64::NAN), "refresh_ahead");
    rejected(
        Cache::builder().stale_if_error(Duration::ZERO),
        "stale_if_error",
    );
    rejected(Cache::builder().namespace(""), "namespace");
    rejected(Cache::builder().namespace("a*b"), "namespace");
    rejected(Cache::builder().namespace("a b"), "namespace");
}

#[test]
fn errors_explain_themselves() {
    let error = Cache::builder().refresh_ahead(1.5).build().unwrap_err();
    assert_eq!(
        error.to_string(),
        "invalid cache configuration: `refresh_ahead` must be strictly between 0 and 1, got 1.5"
    );
}

#[test]
fn valid_settings_build() {
    let cache = Cache::builder()
        .namespace("app:v2")
        .l1_max_capacity(1)
        .default_ttl(Duration::from_millis(1))
        .refresh_ahead(0.99)
        .stale_if_error(Duration::from_secs(1))
        .build()
        .unwrap();
    assert_eq!(cache.namespace(), Some("app:v2"));
}

#[test]
fn the_global_is_the_embedded_default_until_installed_and_install_is_once() {
    // Nothing installed in this test binary: the global is the L1-only default.
    let global = cache_core::global();
    assert_eq!(global.namespace(), None);
    global.set_blocking("g", 1u8, &cache_core::EntryOptions::new());
    assert_eq!(cache_core::global().get_blocking::<u8>("g"), Some(1));
    let late = cache_core::install(Cache::builder().build().unwrap());
    assert!(matches!(late, Err(Error::GlobalInUse)));
}
