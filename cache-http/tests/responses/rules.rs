//! The storing and answering rules, one test each, through a real server and client.

use std::time::Duration;

use axum::Router;
use axum::extract::{Path, Request};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::routing::get;
use cache_core::{Cache, invalidate};
use cache_http::{ResponseCacheLayer, RouteStats};
use serde_json::json;

use crate::support::{Calls, body_etag, client, get as fetch, send, serve, within_limit};

fn cache() -> Cache {
    Cache::builder().build().unwrap()
}

/// A route answering `body` with `headers`, counting its calls.
fn counted(
    calls: &Calls,
    headers: &'static [(&'static str, &'static str)],
    body: &'static str,
) -> axum::routing::MethodRouter {
    let calls = calls.clone();
    get(move || {
        calls.count();
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.append(
                HeaderName::from_static(name),
                HeaderValue::from_static(value),
            );
        }
        async move { (map, body) }
    })
}

#[tokio::test]
async fn a_miss_then_a_hit_with_age_cache_status_and_etag() {
    within_limit(async {
        let calls = Calls::default();
        let layer = ResponseCacheLayer::new(cache());
        let app = Router::new()
            .route(
                "/hello",
                counted(&calls, &[("cache-control", "max-age=60")], "hello"),
            )
            .route_layer(layer.clone());
        let base = serve(app).await;

        let miss = fetch(&format!("{base}/hello")).await;
        assert_eq!((miss.status, miss.body.as_str()), (200, "hello"));
        assert_eq!(miss.cache_status(), "layered-cache; fwd=miss; stored");
        assert_eq!(miss.header("age"), "0");
        assert_eq!(miss.header("etag"), body_etag("hello"));
        assert_eq!(miss.header("cache-control"), "max-age=60");
        assert!(!miss.header("date").is_empty());

        let hit = fetch(&format!("{base}/hello")).await;
        assert_eq!((hit.status, hit.body.as_str()), (200, "hello"));
        let ttl = hit.cache_status().strip_prefix("layered-cache; hit; ttl=");
        let ttl: u64 = ttl.expect("a hit").parse().unwrap();
        assert!((58..=60).contains(&ttl), "{}", hit.cache_status());
        assert_eq!(hit.header("age"), "0");
        assert_eq!(hit.header("etag"), miss.header("etag"));
        assert_eq!(hit.header("date"), miss.header("date"), "the stored Date");
        assert_eq!(hit.header("content-length"), "5");
        assert_eq!(calls.get(), 1, "the hit did not run the handler");

        let stats = layer.stats().snapshot();
        let expected = RouteStats {
            hits: 1,
            misses: 1,
            ..RouteStats::default()
        };
        assert_eq!(stats["/hello"], expected);
        assert_eq!(stats["/hello"].hit_ratio(), 0.5);
    })
    .await;
}

#[tokio::test]
async fn head_is_answered_from_what_get_stored() {
    within_limit(async {
        let methods = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = methods.clone();
        let app = Router::new()
            .route(
                "/doc",
                get(move |request: Request| {
                    seen.lock().unwrap().push(request.method().clone());
                    async { ([("cache-control", "max-age=60")], "the document") }
                }),
            )
            .route_layer(ResponseCacheLayer::new(cache()));
        let base = serve(app).await;
        let url = format!("{base}/doc");

        let head = send(client().head(&url)).await;
        assert_eq!(head.status, 200);
        assert_eq!(head.body, "");
        assert_eq!(head.cache_status(), "layered-cache; fwd=miss; stored");
        assert_eq!(head.header("content-length"), "12");
        assert_eq!(head.header("etag"), body_etag("the document"));

        let got = fetch(&url).await;
        assert_eq!(got.body, "the document", "the HEAD stored the GET's body");
        assert!(
            got.cache_status().starts_with("layered-cache; hit"),
            "{}",
            got.cache_status()
        );

        let head = send(client().head(&url)).await;
        assert!(head.cache_status().starts_with("layered-cache; hit"));
        assert_eq!(
            (head.body.as_str(), head.header("content-length")),
            ("", "12")
        );
        assert_eq!(
            *methods.lock().unwrap(),
            [axum::http::Method::GET],
            "one call, as a GET"
        );
    })
    .await;
}

#[tokio::test]
async fn a_matching_if_none_match_gets_304() {
    within_limit(async {
        let conditions = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = conditions.clone();
        let app = Router::new()
            .route("/computed", get(|| async { "body" }))
            .route(
                "/tagged",
                get(move |headers: HeaderMap| {
                    seen.lock()
                        .unwrap()
                        .push(headers.contains_key(header::IF_NONE_MATCH));
                    async { ([(header::ETAG, "W/\"v1\"")], "tagged body") }
                }),
            )
            .route_layer(ResponseCacheLayer::new(cache()));
        let base = serve(app).await;
        let computed = body_etag("body");

        // On the miss itself: the handler answers in full, the client gets a 304.
        let url = format!("{base}/computed");
        let first = send(client().get(&url).header("if-none-match", &computed)).await;
        assert_eq!((first.status, first.body.as_str()), (304, ""));
        assert_eq!(first.header("etag"), computed);
        assert_eq!(first.cache_status(), "layered-cache; fwd=miss; stored");
        let hit = send(
            client()
                .get(&url)
                .header("if-none-match", format!("\"x\", {computed}")),
        )
        .await;
        assert_eq!(hit.status, 304);
        assert!(hit.cache_status().starts_with("layered-cache; hit"));
        assert_eq!(hit.header("age"), "0");
        let other = send(client().get(&url).header("if-none-match", "\"other\"")).await;
        assert_eq!((other.status, other.body.as_str()), (200, "body"));
        let star = send(client().get(&url).header("if-none-match", "*")).await;
        assert_eq!(star.status, 304);

        // The handler's own ETag is kept (weak comparison), and never sees the condition.
        let url = format!("{base}/tagged");
        assert_eq!(fetch(&url).await.header("etag"), "W/\"v1\"");
        let revalidated = send(client().get(&url).header("if-none-match", "\"v1\"")).await;
        assert_eq!(
            (revalidated.status, revalidated.header("etag")),
            (304, "W/\"v1\"")
        );
        let miss_with_condition = send(
            client()
                .head(format!("{base}/tagged?x"))
                .header("if-none-match", "W/\"v1\""),
        )
        .await;
        assert_eq!(miss_with_condition.status, 304);
        assert_eq!(*conditions.lock().unwrap(), [false, false]);
    })
    .await;
}

#[tokio::test]
async fn the_etag_of_a_body_is_the_same_in_every_cache() {
    within_limit(async {
        let app = || {
            Router::new()
                .route("/same", get(|| async { "same bytes" }))
                .layer(ResponseCacheLayer::new(cache()))
        };
        let (one, two) = (serve(app()).await, serve(app()).await);
        let first = fetch(&format!("{one}/same")).await;
        let second = fetch(&format!("{two}/same")).await;
        assert_eq!(first.header("etag"), second.header("etag"));
        assert_eq!(first.header("etag"), body_etag("same bytes"));
        assert_eq!(
            second.cache_status(),
            "layered-cache; fwd=miss; stored",
            "two caches"
        );
    })
    .await;
}

#[tokio::test]
async fn lifetime_from_s_maxage_then_max_age_then_the_default() {
    within_limit(async {
        let cache = cache();
        let app = Router::new()
            .route(
                "/shared",
                get(|| async { ([("cache-control", "max-age=30, s-maxage=120")], "a") }),
            )
            .route(
                "/max-age",
                get(|| async { ([("cache-control", "max-age=30")], "b") }),
            )
            .route("/default", get(|| async { "c" }))
            .route(
                "/aged",
                get(|| async { ([("cache-control", "max-age=30"), ("age", "20")], "d") }),
            )
            .route_layer(ResponseCacheLayer::new(cache.clone()).ttl(Duration::from_secs(45)));
        let base = serve(app).await;
        for (path, seconds) in [
            ("/shared", 120),
            ("/max-age", 30),
            ("/default", 45),
            ("/aged", 10),
        ] {
            let answer = fetch(&format!("{base}{path}")).await;
            assert_eq!(
                answer.cache_status(),
                "layered-cache; fwd=miss; stored",
                "{path}"
            );
            let info = cache.inspect(&format!("http:{path}")).await.unwrap();
            let ttl_ms = info.l1.expect("stored in L1").ttl_ms;
            let expected = seconds * 1000;
            assert!(
                ttl_ms <= expected && ttl_ms + 2_000 > expected,
                "{path}: {ttl_ms}"
            );
        }
        let aged = fetch(&format!("{base}/aged")).await;
        assert_eq!(aged.header("age"), "20", "the age it had on arrival counts");
    })
    .await;
}

#[tokio::test]
async fn what_a_shared_cache_must_not_store() {
    within_limit(async {
        let calls = Calls::default();
        let app = Router::new()
            .route(
                "/no-store",
                counted(&calls, &[("cache-control", "no-store")], "x"),
            )
            .route(
                "/private",
                counted(&calls, &[("cache-control", "private, max-age=60")], "x"),
            )
            .route(
                "/no-cache",
                counted(&calls, &[("cache-control", "no-cache")], "x"),
            )
            .route(
                "/cookie",
                counted(&calls, &[("set-cookie", "session=1")], "x"),
            )
            .route(
                "/zero",
                counted(&calls, &[("cache-control", "max-age=0")], "x"),
            )
            .route("/any", counted(&calls, &[("vary", "*")], "x"))
            .route(
                "/missing",
                get({
                    let calls = calls.clone();
                    move || {
                        calls.count();
                        async { (StatusCode::NOT_FOUND, "none") }
                    }
                }),
            )
            .route_layer(ResponseCacheLayer::new(cache()));
        let base = serve(app).await;
        let cases = [
            ("/no-store", "no-store"),
            ("/private", "private"),
            ("/no-cache", "no-cache"),
            ("/cookie", "set-cookie"),
            ("/zero", "not-fresh"),
            ("/any", "vary-star"),
            ("/missing", "status"),
        ];
        for (path, reason) in cases {
            for _ in 0..2 {
                let answer = fetch(&format!("{base}{path}")).await;
                assert_eq!(
                    answer.cache_status(),
                    format!("layered-cache; fwd=miss; detail={reason}"),
                    "{path}"
                );
                assert_eq!(answer.header("age"), "", "{path}: not a stored response");
            }
        }
        assert_eq!(
            calls.get(),
            2 * cases.len(),
            "every request ran its handler"
        );
        let cookie = fetch(&format!("{base}/cookie")).await;
        assert_eq!(
            cookie.header("set-cookie"),
            "session=1",
            "passed on as it is"
        );
    })
    .await;
}

#[tokio::test]
async fn requests_with_authorization_are_stored_only_when_the_response_is_public() {
    within_limit(async {
        let calls = Calls::default();
        let app = Router::new()
            .route(
                "/mine",
                counted(&calls, &[("cache-control", "max-age=60")], "mine"),
            )
            .route(
                "/public",
                counted(&calls, &[("cache-control", "public, max-age=60")], "p"),
            )
            .route(
                "/shared",
                counted(&calls, &[("cache-control", "s-maxage=60")], "s"),
            )
            .route_layer(ResponseCacheLayer::new(cache()));
        let base = serve(app).await;
        let authorized = |path: &str| {
            client()
                .get(format!("{base}{path}"))
                .header("authorization", "Bearer a")
        };

        for _ in 0..2 {
            let answer = send(authorized("/mine")).await;
            assert_eq!(
                answer.cache_status(),
                "layered-cache; fwd=miss; detail=authorization"
            );
        }
        assert_eq!(calls.get(), 2);
        for path in ["/public", "/shared"] {
            let stored = send(authorized(path)).await;
            assert_eq!(
                stored.cache_status(),
                "layered-cache; fwd=miss; stored",
                "{path}"
            );
            let anonymous = fetch(&format!("{base}{path}")).await;
            assert!(
                anonymous.cache_status().starts_with("layered-cache; hit"),
                "{path}"
            );
        }
        assert_eq!(calls.get(), 4);
        // An anonymous request stores /mine; an authorized one is then answered from it
        // (RFC 9111 restricts storing, not reusing).
        fetch(&format!("{base}/mine")).await;
        let reused = send(authorized("/mine")).await;
        assert!(reused.cache_status().starts_with("layered-cache; hit"));
        assert_eq!(calls.get(), 5);
    })
    .await;
}

#[tokio::test]
async fn vary_stores_a_variant_per_value_of_the_named_headers() {
    within_limit(async {
        let calls = Calls::default();
        let counter = calls.clone();
        let app = Router::new()
            .route(
                "/greeting",
                get(move |headers: HeaderMap| {
                    counter.count();
                    let language = headers
                        .get("accept-language")
                        .map_or("none".to_owned(), |v| v.to_str().unwrap().to_owned());
                    async move {
                        (
                            [("vary", "Accept-Language"), ("cache-control", "max-age=60")],
                            language,
                        )
                    }
                }),
            )
            .route_layer(ResponseCacheLayer::new(cache()));
        let base = serve(app).await;
        let url = format!("{base}/greeting");
        let with =
            |language: &'static str| send(client().get(&url).header("accept-language", language));

        let en = with("en").await;
        assert_eq!(
            (en.body.as_str(), en.cache_status()),
            ("en", "layered-cache; fwd=miss; stored")
        );
        let fr = with("fr").await;
        assert_eq!(
            (fr.body.as_str(), fr.cache_status()),
            ("fr", "layered-cache; fwd=miss; stored")
        );
        let none = fetch(&url).await;
        assert_eq!(
            (none.body.as_str(), none.cache_status()),
            ("none", "layered-cache; fwd=miss; stored")
        );
        assert_eq!(calls.get(), 3);
        for (language, answer) in [("en", with("en").await), ("fr", with("fr").await)] {
            assert_eq!(answer.body, language);
            assert!(
                answer.cache_status().starts_with("layered-cache; hit"),
                "{language}"
            );
            assert_eq!(answer.header("vary"), "Accept-Language");
        }
        assert_eq!(fetch(&url).await.body, "none");
        assert_eq!(calls.get(), 3, "every variant was answered from the cache");
    })
    .await;
}

/// A hit reads each entry it needs once, and counts once in the cache's `Stats`: the URI's
/// response; the URI's `Vary` note and then the request's variant. A miss counts its lookups
/// as misses, never as hits read twice.
#[tokio::test]
async fn each_answer_counts_each_entry_it_reads_once() {
    within_limit(async {
        let cache = cache();
        let calls = Calls::default();
        let app = Router::new()
            .route(
                "/plain",
                counted(&calls, &[("cache-control", "max-age=60")], "p"),
            )
            .route(
                "/varied",
                counted(
                    &calls,
                    &[("cache-control", "max-age=60"), ("vary", "Accept-Language")],
                    "v",
                ),
            )
            .route_layer(ResponseCacheLayer::new(cache.clone()));
        let base = serve(app).await;
        let varied = |language: &'static str| {
            send(
                client()
                    .get(format!("{base}/varied"))
                    .header("accept-language", language),
            )
        };
        fetch(&format!("{base}/plain")).await;
        varied("en").await;
        let before = cache.stats();

        let plain = fetch(&format!("{base}/plain")).await;
        assert!(
            plain.cache_status().contains("hit"),
            "{}",
            plain.cache_status()
        );
        let after_plain = cache.stats();
        assert_eq!(
            after_plain.l1_hits - before.l1_hits,
            1,
            "the URI's response"
        );

        let en = varied("en").await;
        assert!(en.cache_status().contains("hit"), "{}", en.cache_status());
        let after_en = cache.stats();
        assert_eq!(
            after_en.l1_hits - after_plain.l1_hits,
            2,
            "the note, the variant"
        );

        let fr = varied("fr").await;
        assert_eq!(fr.cache_status(), "layered-cache; fwd=miss; stored");
        let after_fr = cache.stats();
        assert_eq!(
            after_fr.l1_hits - after_en.l1_hits,
            1,
            "the note, read once"
        );
        assert_eq!(after_fr.misses - after_en.misses, 1, "the variant");
        assert_eq!(calls.get(), 3);
    })
    .await;
}

/// Drops every entry tagged `users` (an `#[invalidate]` function, as an application writes).
#[invalidate(cache = cache, tags = ["users"])]
async fn rename_all_users(cache: &Cache) -> Result<(), std::io::Error> {
    let _ = cache;
    Ok(())
}

#[tokio::test]
async fn cache_tag_tags_the_entry_and_is_not_shown() {
    within_limit(async {
        let cache = cache();
        let calls = Calls::default();
        let counter = calls.clone();
        let app = Router::new()
            .route(
                "/users/{id}",
                get(move |Path(id): Path<u64>| {
                    counter.count();
                    let tags = format!("user:{id}, users");
                    async move { ([("cache-tag", tags)], format!("user {id}")) }
                }),
            )
            .route_layer(ResponseCacheLayer::new(cache.clone()));
        let base = serve(app).await;
        let one = format!("{base}/users/1");
        let two = format!("{base}/users/2");

        let answer = fetch(&one).await;
        assert_eq!(
            answer.header("cache-tag"),
            "",
            "the tags are the cache's business"
        );
        fetch(&two).await;
        assert_eq!(fetch(&one).await.header("cache-tag"), "", "nor on a hit");
        assert_eq!(calls.get(), 2);

        cache.invalidate_tags(&["user:1"]).await;
        assert_eq!(
            fetch(&one).await.cache_status(),
            "layered-cache; fwd=miss; stored"
        );
        assert!(
            fetch(&two)
                .await
                .cache_status()
                .starts_with("layered-cache; hit")
        );
        assert_eq!(calls.get(), 3);

        rename_all_users(&cache).await.unwrap();
        assert_eq!(
            fetch(&one).await.cache_status(),
            "layered-cache; fwd=miss; stored"
        );
        assert_eq!(
            fetch(&two).await.cache_status(),
            "layered-cache; fwd=miss; stored"
        );
        assert_eq!(calls.get(), 5);
    })
    .await;
}

#[tokio::test]
async fn a_successful_unsafe_method_drops_the_uri_and_all_its_variants() {
    within_limit(async {
        let calls = Calls::default();
        let counter = calls.clone();
        let handler = move |headers: HeaderMap| {
            counter.count();
            let language = headers.get("accept-language").cloned();
            async move {
                let body = format!("{language:?}");
                ([("vary", "accept-language")], body)
            }
        };
        let write = |request: Request| async move {
            match request.headers().get("x-fail") {
                Some(_) => StatusCode::CONFLICT,
                None => StatusCode::NO_CONTENT,
            }
        };
        let layer = ResponseCacheLayer::new(cache());
        let app = Router::new()
            .route(
                "/items/{id}",
                get(handler)
                    .put(write)
                    .post(write)
                    .patch(write)
                    .delete(write),
            )
            .route_layer(layer.clone());
        let base = serve(app).await;
        let item = format!("{base}/items/1");
        let other = format!("{base}/items/1?full");
        let variants = || async {
            let mut statuses = Vec::new();
            for language in ["en", "fr"] {
                let answer = send(client().get(&item).header("accept-language", language)).await;
                statuses.push(
                    answer
                        .cache_status()
                        .split(';')
                        .nth(1)
                        .unwrap()
                        .trim()
                        .to_owned(),
                );
            }
            statuses
        };
        assert_eq!(variants().await, ["fwd=miss", "fwd=miss"]);
        assert_eq!(variants().await, ["hit", "hit"]);
        fetch(&other).await;

        let methods = [
            reqwest::Method::PUT,
            reqwest::Method::POST,
            reqwest::Method::PATCH,
            reqwest::Method::DELETE,
        ];
        for method in methods {
            // A failed write changes nothing.
            let failed = send(
                client()
                    .request(method.clone(), &item)
                    .header("x-fail", "1"),
            )
            .await;
            assert_eq!(failed.status, 409);
            assert_eq!(failed.cache_status(), "layered-cache; fwd=method");
            assert_eq!(variants().await, ["hit", "hit"], "{method}");

            let written = send(client().request(method.clone(), &item)).await;
            assert_eq!(written.status, 204);
            assert_eq!(
                variants().await,
                ["fwd=miss", "fwd=miss"],
                "{method}: every variant"
            );
            assert!(
                fetch(&other).await.cache_status().contains("hit"),
                "{method}: another URI (another query) stays"
            );
        }
        assert_eq!(calls.get(), 2 + 1 + 4 * 2);
        let stats = &layer.stats().snapshot()["/items/{id}"];
        assert_eq!(stats.invalidations, 4);
        assert_eq!(stats.bypassed, 8);
    })
    .await;
}

#[tokio::test]
async fn statistics_are_by_matched_route_never_by_uri() {
    within_limit(async {
        let cache = cache();
        let layer = ResponseCacheLayer::new(cache.clone());
        let users = Router::new()
            .route(
                "/users/{id}",
                get(|Path(id): Path<u64>| async move { format!("user {id}") }),
            )
            .layer(layer.clone());
        let app = Router::new()
            .nest("/v1", users.clone())
            .nest("/v2", users)
            .nest(
                "/admin",
                cache_http::router_with_responses(cache, layer.stats()),
            );
        let base = serve(app).await;
        for path in ["/v1/users/1", "/v1/users/2", "/v1/users/1", "/v2/users/1"] {
            fetch(&format!("{base}{path}")).await;
        }
        let answer = fetch(&format!("{base}/v2/users/1")).await;
        assert_eq!(answer.body, "user 1");
        assert!(answer.cache_status().contains("hit"));

        let stats = layer.stats().snapshot();
        assert_eq!(
            stats.keys().collect::<Vec<_>>(),
            ["/v1/users/{id}", "/v2/users/{id}"]
        );
        assert_eq!(
            (stats["/v1/users/{id}"].misses, stats["/v1/users/{id}"].hits),
            (2, 1)
        );
        assert_eq!(
            (stats["/v2/users/{id}"].misses, stats["/v2/users/{id}"].hits),
            (1, 1),
            "nested routers do not share keys"
        );
        let admin = client()
            .get(format!("{base}/admin/stats"))
            .send()
            .await
            .unwrap();
        let admin: serde_json::Value = admin.json().await.unwrap();
        assert_eq!(admin["responses"]["/v1/users/{id}"]["misses"], json!(2));
        assert_eq!(
            admin["responses"]["/v2/users/{id}"]["hit_ratio"],
            json!(0.5)
        );
        assert!(admin["cache"]["l1_hits"].as_u64().unwrap() >= 2);

        // Around a router, before routing: one label for everything, not the URIs.
        let outside = tower_layer::Layer::layer(
            &layer,
            Router::new().route("/x/{id}", get(|| async { "x" })),
        );
        let base = serve(Router::new().fallback_service(outside)).await;
        fetch(&format!("{base}/x/1")).await;
        fetch(&format!("{base}/x/2")).await;
        let stats = layer.stats().snapshot();
        assert_eq!(stats[cache_http::UNMATCHED_ROUTE].misses, 2);
        assert!(!stats.keys().any(|route| route.starts_with("/x")));
    })
    .await;
}
