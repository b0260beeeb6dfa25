//! What the response cache keeps in the engine (and so in Redis): [`HttpEntry`].
//!
//! The serialized layout is a contract between processes and versions of a service, documented
//! in `docs/redis-layout.md` ("HTTP responses"): the engine tells value types apart by their
//! Rust type name (`cache_http::response_cache::stored::HttpEntry`), so this type never moves;
//! its variants and fields never change. Data a later version needs goes into the
//! `extensions` list of name/value pairs, which readers that do not know a name ignore.

use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use axum::body::Body;
use bytes::Bytes;
use http::header::{AGE, CONTENT_LENGTH, DATE, ETAG};
use http::{HeaderMap, HeaderName, HeaderValue, Response, StatusCode};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::policy;
use super::status::{CACHE_STATUS, number_value};

/// An entry of the response cache: a stored response, or the note that a URI's responses
/// vary by request headers (each variant then has an entry of its own).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum HttpEntry {
    /// A response, under its URI's key (or its variant's key).
    Response(StoredResponse),
    /// The URI's responses carry `Vary`: its variants are stored under keys made of these
    /// request headers' values.
    Variants(VaryMarker),
    /// A response that may not be shared: handed to no one (never stored, never serialized).
    Uncacheable,
}

/// A stored response: status, headers (with its `ETag` and `Date`), the whole body, when it
/// was stored and how long it stays fresh. Cheap to clone.
#[derive(Debug, Clone)]
pub struct StoredResponse(Arc<Stored>);

#[derive(Debug)]
struct Stored {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
    /// The headers a client is sent: `headers`, `Content-Length`, and `Age` and
    /// `Cache-Status` to be replaced (cloned and filled in, the map never grows or rehashes).
    served_headers: HeaderMap,
    stored_at_ms: u64,
    fresh_ms: u64,
    id: u64,
    etag: HeaderValue,
    vary: Vec<String>,
    extensions: Vec<(String, String)>,
}

/// The note stored under a URI's key when its responses carry `Vary`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VaryMarker {
    /// The request header names of `Vary`: lower case, sorted, without duplicates.
    pub names: Vec<String>,
    /// The id of the response that set it (see [`StoredResponse::id`]).
    pub id: u64,
    /// Data of later versions: name/value pairs; unknown names are ignored.
    pub extensions: Vec<(String, String)>,
}

/// The serialized form of [`StoredResponse`] (see the module documentation).
#[derive(Serialize, Deserialize)]
#[serde(rename = "StoredResponse")]
struct Layout {
    status: u16,
    headers: Vec<(String, String)>,
    body: Bytes,
    stored_at_ms: u64,
    fresh_ms: u64,
    id: u64,
    extensions: Vec<(String, String)>,
}

/// Headers never stored: about one connection (RFC 9110 §7.6.1), recomputed (`Content-Length`,
/// `Age`), describing another cache's answer (`Cache-Status`), or meant for this layer only
/// (`Cache-Tag`).
const NOT_STORED: [HeaderName; 12] = [
    http::header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    http::header::TRANSFER_ENCODING,
    http::header::UPGRADE,
    http::header::TE,
    http::header::TRAILER,
    http::header::PROXY_AUTHENTICATE,
    http::header::CONTENT_LENGTH,
    http::header::AGE,
    CACHE_STATUS,
    policy::CACHE_TAG,
];

/// `headers` as served: with `Content-Length` (`body_len`), and `Age` and `Cache-Status`
/// holding places for the values of each answer.
fn served_headers(headers: &HeaderMap, body_len: usize) -> HeaderMap {
    let mut served = HeaderMap::with_capacity(headers.len() + 3);
    served.extend(
        headers
            .iter()
            .map(|(name, value)| (name.clone(), value.clone())),
    );
    // Static text for most bodies: the value is cloned for every answer.
    served.insert(CONTENT_LENGTH, number_value(body_len as u64));
    served.insert(AGE, HeaderValue::from_static("0"));
    served.insert(CACHE_STATUS, HeaderValue::from_static(""));
    served
}

/// Milliseconds since the Unix epoch, now.
pub(crate) fn now_ms() -> u64 {
    // Coarse (a kernel tick): ages and freshness are whole seconds.
    cache_core::__private::unix_now_ms()
}

impl StoredResponse {
    /// Stores a handler's response whose body was read in full: the headers minus those in
    /// [`NOT_STORED`], an `ETag` (the handler's, else [`etag::of_body`](super::etag::of_body))
    /// and a `Date` (the handler's, else the time it was stored). `None` when a header value is
    /// not UTF-8 (the layout keeps them as text).
    pub(crate) fn new(
        status: StatusCode,
        headers: &HeaderMap,
        body: Bytes,
        storage: &policy::Storage,
        id: u64,
    ) -> Option<Self> {
        let mut headers = headers.clone();
        for name in &NOT_STORED {
            headers.remove(name);
        }
        let stored_at_ms = now_ms().saturating_sub(storage.age.as_millis() as u64);
        if !headers.contains_key(DATE) {
            let date = UNIX_EPOCH + Duration::from_millis(stored_at_ms);
            let date = HeaderValue::try_from(httpdate::fmt_http_date(date)).ok()?;
            headers.insert(DATE, date);
        }
        let etag = match headers.get(ETAG) {
            Some(etag) => etag.clone(),
            None => {
                let etag = super::etag::of_body(&body);
                headers.insert(ETAG, etag.clone());
                etag
            }
        };
        if headers
            .values()
            .any(|value| std::str::from_utf8(value.as_bytes()).is_err())
        {
            return None;
        }
        Some(Self(Arc::new(Stored {
            status,
            served_headers: served_headers(&headers, body.len()),
            headers,
            body,
            stored_at_ms,
            fresh_ms: storage.fresh.as_millis() as u64,
            id,
            etag,
            vary: storage.vary.clone(),
            extensions: Vec::new(),
        })))
    }

    /// The status code.
    pub fn status(&self) -> StatusCode {
        self.0.status
    }

    /// The stored headers (with `ETag` and `Date`; without `Cache-Tag`, `Age`, `Content-Length`
    /// or connection headers).
    pub fn headers(&self) -> &HeaderMap {
        &self.0.headers
    }

    /// The whole body.
    pub fn body(&self) -> &Bytes {
        &self.0.body
    }

    /// The entity tag clients revalidate with.
    pub fn etag(&self) -> &HeaderValue {
        &self.0.etag
    }

    /// When it was stored (minus the age it had on arrival), in Unix milliseconds.
    pub fn stored_at_ms(&self) -> u64 {
        self.0.stored_at_ms
    }

    /// How long after [`stored_at_ms`](Self::stored_at_ms) it is fresh, in milliseconds.
    pub fn fresh_ms(&self) -> u64 {
        self.0.fresh_ms
    }

    /// A random id given when stored: tells one stored response from another.
    pub fn id(&self) -> u64 {
        self.0.id
    }

    /// The request header names of its `Vary` (lower case, sorted).
    pub fn vary(&self) -> &[String] {
        &self.0.vary
    }

    /// Its age at `now_ms` (Unix milliseconds), whole seconds.
    pub(crate) fn age_seconds(&self, now_ms: u64) -> u64 {
        now_ms.saturating_sub(self.0.stored_at_ms) / 1000
    }

    /// Whole seconds of freshness left at `now_ms`, rounded down: negative once stale.
    pub(crate) fn ttl_seconds(&self, now_ms: u64) -> i64 {
        let as_signed = |ms: u64| i64::try_from(ms).unwrap_or(i64::MAX);
        let fresh_until = as_signed(self.0.stored_at_ms.saturating_add(self.0.fresh_ms));
        fresh_until
            .saturating_sub(as_signed(now_ms))
            .div_euclid(1000)
    }

    /// The response as stored, with its `Content-Length`, and the body unless `with_body` is
    /// false (a `HEAD`).
    pub(crate) fn to_response(&self, with_body: bool) -> Response<Body> {
        let mut headers = self.0.headers.clone();
        headers.insert(CONTENT_LENGTH, self.0.body.len().into());
        self.response_with(headers, with_body)
    }

    /// [`to_response`](Self::to_response) as a cache answers it, with `Age` and
    /// `Cache-Status`.
    pub(crate) fn to_served_response(
        &self,
        with_body: bool,
        age: HeaderValue,
        cache_status: HeaderValue,
    ) -> Response<Body> {
        let mut headers = self.0.served_headers.clone();
        // Each place is the map's only value of its name (neither header is stored): filled
        // by one walk over the few headers, which costs less than two hashed inserts.
        let (mut age, mut cache_status) = (Some(age), Some(cache_status));
        for (name, value) in headers.iter_mut() {
            let filled = if name == AGE {
                age.take()
            } else if name == CACHE_STATUS {
                cache_status.take()
            } else {
                None
            };
            if let Some(filled) = filled {
                *value = filled;
            }
        }
        self.response_with(headers, with_body)
    }

    fn response_with(&self, headers: HeaderMap, with_body: bool) -> Response<Body> {
        let body = if with_body {
            Body::from(self.0.body.clone())
        } else {
            Body::empty()
        };
        let mut response = Response::new(body);
        *response.status_mut() = self.0.status;
        *response.headers_mut() = headers;
        response
    }

    fn layout(&self) -> Layout {
        let stored = &self.0;
        let headers = stored
            .headers
            .iter()
            .map(|(name, value)| {
                let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
                (name.as_str().to_owned(), value)
            })
            .collect();
        Layout {
            status: stored.status.as_u16(),
            headers,
            body: stored.body.clone(),
            stored_at_ms: stored.stored_at_ms,
            fresh_ms: stored.fresh_ms,
            id: stored.id,
            extensions: stored.extensions.clone(),
        }
    }

    fn from_layout(layout: Layout) -> Result<Self, String> {
        let status = StatusCode::from_u16(layout.status).map_err(|e| e.to_string())?;
        let mut headers = HeaderMap::with_capacity(layout.headers.len());
        for (name, value) in layout.headers {
            let name = HeaderName::try_from(name).map_err(|e| e.to_string())?;
            let value = HeaderValue::try_from(value).map_err(|e| e.to_string())?;
            headers.append(name, value);
        }
        let etag = headers
            .get(ETAG)
            .cloned()
            .ok_or("a stored response without an ETag")?;
        let vary = policy::vary_names(&headers).ok_or("a stored response with Vary: *")?;
        Ok(Self(Arc::new(Stored {
            status,
            served_headers: served_headers(&headers, layout.body.len()),
            headers,
            body: layout.body,
            stored_at_ms: layout.stored_at_ms,
            fresh_ms: layout.fresh_ms,
            id: layout.id,
            etag,
            vary,
            extensions: layout.extensions,
        })))
    }
}

impl Serialize for StoredResponse {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.layout().serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for StoredResponse {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let layout = Layout::deserialize(deserializer)?;
        Self::from_layout(layout).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> HttpEntry {
        let mut headers = HeaderMap::new();
        headers.insert("content-type", HeaderValue::from_static("text/plain"));
        headers.insert("cache-tag", HeaderValue::from_static("a"));
        headers.insert(
            "date",
            HeaderValue::from_static("Thu, 01 Jan 2026 00:00:00 GMT"),
        );
        headers.insert("vary", HeaderValue::from_static("Accept"));
        let storage = policy::Storage {
            fresh: Duration::from_secs(60),
            age: Duration::ZERO,
            stale_while_revalidate: Duration::ZERO,
            stale_if_error: Duration::ZERO,
            tags: vec!["a".into()],
            vary: vec!["accept".into()],
        };
        let stored = StoredResponse::new(
            StatusCode::OK,
            &headers,
            Bytes::from_static(b"hi"),
            &storage,
            7,
        )
        .unwrap();
        // A fixed time, so the encoded bytes are fixed.
        let mut stored = Arc::try_unwrap(stored.0).unwrap();
        stored.stored_at_ms = 1_767_225_600_000;
        HttpEntry::Response(StoredResponse(Arc::new(stored)))
    }

    /// The layout other processes and versions read: these bytes and this JSON must not change
    /// (a change makes a fleet in a rolling deploy miss, or misread, each other's entries).
    #[test]
    fn the_layout_is_fixed() {
        let entry = sample();
        let json = serde_json::to_string(&entry).unwrap();
        assert_eq!(
            json,
            r#"{"Response":{"status":200,"headers":[["content-type","text/plain"],["vary","Accept"],["date","Thu, 01 Jan 2026 00:00:00 GMT"],["etag","\"7d596ce5fcabaf622a2300bbd7ea6e9a\""]],"body":[104,105],"stored_at_ms":1767225600000,"fresh_ms":60000,"id":7,"extensions":[]}}"#
        );
        let marker = HttpEntry::Variants(VaryMarker {
            names: vec!["accept".into()],
            id: 9,
            extensions: vec![],
        });
        assert_eq!(
            serde_json::to_string(&marker).unwrap(),
            r#"{"Variants":{"names":["accept"],"id":9,"extensions":[]}}"#
        );
        let bincode = bincode::serde::encode_to_vec(&entry, bincode::config::standard()).unwrap();
        let hex: String = bincode.iter().map(|b| format!("{b:02x}")).collect();
        // Variant 0, status 200 (varint), 4 headers (length-prefixed strings), the body
        // (length, bytes), stored_at_ms, fresh_ms, id (varints), no extensions.
        assert_eq!(
            hex,
            "00c8040c636f6e74656e742d747970650a746578742f706c61696e047661727906416363657074\
             04646174651d5468752c203031204a616e20323032362030303a30303a303020474d54046574\
             61672222376435393663653566636162616636323261323330306262643765613665396122\
             026869fd00a8da769b010000fb60ea0700"
        );
        let (back, _): (HttpEntry, usize) =
            bincode::serde::decode_from_slice(&bincode, bincode::config::standard()).unwrap();
        let HttpEntry::Response(back) = back else {
            panic!("a response")
        };
        assert_eq!(back.body().as_ref(), b"hi");
        assert_eq!(back.vary(), ["accept"]);
        assert_eq!(back.etag(), "\"7d596ce5fcabaf622a2300bbd7ea6e9a\"");
        assert_eq!(back.headers().get("cache-tag"), None);
        let from_json: HttpEntry = serde_json::from_str(&json).unwrap();
        let HttpEntry::Response(from_json) = from_json else {
            panic!("a response")
        };
        assert_eq!(from_json.stored_at_ms(), 1_767_225_600_000);
        assert_eq!(from_json.headers().len(), 4);
    }

    #[test]
    fn the_type_name_is_part_of_the_layout() {
        assert_eq!(
            std::any::type_name::<HttpEntry>(),
            "cache_http::response_cache::stored::HttpEntry"
        );
    }
}
