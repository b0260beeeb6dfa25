//! The last step of every request: the response the client gets (`304`, `HEAD`, `Age`,
//! `Cache-Status`, no `Cache-Tag`), counted by route.

use axum::body::Body;
use http::header::{AGE, CACHE_CONTROL, CONTENT_LOCATION, DATE, ETAG, EXPIRES, VARY};
use http::{HeaderMap, Method, Response, StatusCode, request};

use super::etag;
use super::layer::Shared;
use super::policy::CACHE_TAG;
use super::route_stats::RouteCounters;
use super::status::{Outcome, add_cache_status, number_value};
use super::stored::StoredResponse;

/// The headers a `304` repeats from the `200` it stands for (RFC 9110 §15.4.5).
const NOT_MODIFIED_HEADERS: [http::HeaderName; 6] =
    [CACHE_CONTROL, CONTENT_LOCATION, DATE, ETAG, EXPIRES, VARY];

/// A stored response answering `request`: `304 Not Modified` when its `If-None-Match` matches
/// the `ETag`, no body for `HEAD`; with `Age` and `Cache-Status`.
pub(crate) fn stored(
    shared: &Shared,
    route: &RouteCounters,
    stored: &StoredResponse,
    outcome: Outcome,
    request: &request::Parts,
    now_ms: u64,
) -> Response<Body> {
    let not_modified = etag::none_match_hits(&request.headers, stored.etag());
    let age = number_value(stored.age_seconds(now_ms));
    let cache_status = shared.status_values.value(outcome);
    let response = if not_modified {
        let mut response = not_modified_from(stored.headers());
        let headers = response.headers_mut();
        headers.insert(AGE, age);
        add_cache_status(headers, cache_status);
        response
    } else {
        stored.to_served_response(request.method != Method::HEAD, age, cache_status)
    };
    record(shared, route, outcome, not_modified);
    response
}

/// A handler's response passed on as it is, minus `Cache-Tag`, plus `Cache-Status`. When the
/// handler got a request changed for filling the cache (`GET`, without conditions), `asked`
/// is the client's: a `HEAD` then gets no body, and a matching `If-None-Match` a `304`.
pub(crate) fn passed(
    shared: &Shared,
    route: &RouteCounters,
    mut response: Response<Body>,
    outcome: Outcome,
    asked: Option<&request::Parts>,
) -> Response<Body> {
    response.headers_mut().remove(CACHE_TAG);
    let mut not_modified = false;
    if let Some(asked) = asked {
        let etag = response.headers().get(ETAG);
        if response.status() == StatusCode::OK
            && etag.is_some_and(|etag| etag::none_match_hits(&asked.headers, etag))
        {
            not_modified = true;
            response = not_modified_from(response.headers());
        } else if asked.method == Method::HEAD {
            *response.body_mut() = Body::empty();
        }
    }
    add_cache_status(response.headers_mut(), shared.status_values.value(outcome));
    record(shared, route, outcome, not_modified);
    response
}

/// A `304 Not Modified` standing for a `200` with `headers`.
fn not_modified_from(headers: &HeaderMap) -> Response<Body> {
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::NOT_MODIFIED;
    for name in NOT_MODIFIED_HEADERS {
        for value in headers.get_all(&name) {
            response.headers_mut().append(name.clone(), value.clone());
        }
    }
    response
}

/// Counts an answer for its route (and, with feature `metrics`, publishes it).
fn record(shared: &Shared, route: &RouteCounters, outcome: Outcome, not_modified: bool) {
    route.count(outcome, not_modified);
    #[cfg(feature = "metrics")]
    {
        let labels = [
            ("cache", shared.metrics_label.clone()),
            ("route", route.route().to_owned()),
            ("result", outcome.label().to_owned()),
        ];
        metrics::counter!("http_response_cache_requests_total", &labels).increment(1);
        if not_modified {
            let labels = &labels[..2];
            metrics::counter!("http_response_cache_not_modified_total", labels).increment(1);
        }
    }
    #[cfg(not(feature = "metrics"))]
    let _ = shared;
}
