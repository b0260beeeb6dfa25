//! Reading a handler's body in full before anything is stored, up to a limit; past the limit
//! (or on trailers, or an error) the client still gets the body as the handler sent it, by a
//! body that replays what was read and then streams the rest.

use axum::body::Body;
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use http::HeaderMap;
use http::header::CONTENT_LENGTH;
use http_body::{Body as HttpBody, Frame};
use http_body_util::{BodyExt, BodyStream, StreamBody};

/// The error type of bodies passed on.
pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A handler's body, read.
pub(crate) enum Collected {
    /// Every byte, within the limit and without trailers.
    Complete(Bytes),
    /// Too large (or with trailers): not storable; the body for the client.
    Streamed(Body),
    /// The handler's body failed: the client gets what was read, then the error.
    Failed(Body),
}

/// Reads `body` until its end, or until more than `limit` bytes (judged from `Content-Length`
/// or the body's size hint before reading anything, when they tell).
pub(crate) async fn collect(headers: &HeaderMap, body: Body, limit: usize) -> Collected {
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|length| length.to_str().ok()?.parse::<u64>().ok());
    if declared.unwrap_or(0).max(body.size_hint().lower()) > limit as u64 {
        return Collected::Streamed(body);
    }
    let mut body = body;
    let mut read: Vec<Frame<Bytes>> = Vec::new();
    let mut total = 0usize;
    loop {
        match body.frame().await {
            None => return Collected::Complete(concat(read, total)),
            Some(Ok(frame)) => {
                let Some(data) = frame.data_ref() else {
                    read.push(frame);
                    return Collected::Streamed(replay(read, body));
                };
                total += data.len();
                read.push(frame);
                if total > limit {
                    return Collected::Streamed(replay(read, body));
                }
            }
            Some(Err(error)) => {
                let frames = read.into_iter().map(Ok);
                let failed = futures_util::stream::iter(frames)
                    .chain(futures_util::stream::once(async move { Err(error) }));
                return Collected::Failed(Body::new(StreamBody::new(failed)));
            }
        }
    }
}

/// The data frames joined (without a copy when there is one).
fn concat(frames: Vec<Frame<Bytes>>, total: usize) -> Bytes {
    let mut data = frames
        .into_iter()
        .filter_map(|frame| frame.into_data().ok());
    match (data.next(), data.next()) {
        (None, _) => Bytes::new(),
        (Some(only), None) => only,
        (Some(first), Some(second)) => {
            let mut joined = BytesMut::with_capacity(total);
            joined.extend_from_slice(&first);
            joined.extend_from_slice(&second);
            data.for_each(|chunk| joined.extend_from_slice(&chunk));
            joined.freeze()
        }
    }
}

/// A body yielding `read`, then the rest of `body`.
fn replay(read: Vec<Frame<Bytes>>, body: Body) -> Body {
    let rest = BodyStream::new(body);
    let frames = futures_util::stream::iter(read.into_iter().map(Ok)).chain(rest);
    Body::new(StreamBody::new(frames))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::Full;

    fn chunks(parts: &[&'static str]) -> Body {
        let frames: Vec<Result<Frame<Bytes>, BoxError>> = parts
            .iter()
            .map(|part| Ok(Frame::data(Bytes::from_static(part.as_bytes()))))
            .collect();
        Body::new(StreamBody::new(futures_util::stream::iter(frames)))
    }

    async fn text(body: Body) -> String {
        let bytes = body.collect().await.unwrap().to_bytes();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[tokio::test]
    async fn complete_within_the_limit_streamed_past_it() {
        let empty = HeaderMap::new();
        let Collected::Complete(all) = collect(&empty, chunks(&["ab", "cd"]), 4).await else {
            panic!("4 bytes fit a limit of 4");
        };
        assert_eq!(all, "abcd");
        let Collected::Streamed(body) = collect(&empty, chunks(&["ab", "cd", "ef"]), 3).await
        else {
            panic!("6 bytes do not fit a limit of 3");
        };
        assert_eq!(
            text(body).await,
            "abcdef",
            "the client still gets every byte"
        );

        let Collected::Streamed(body) = collect(
            &empty,
            Body::new(Full::new(Bytes::from_static(b"12345"))),
            4,
        )
        .await
        else {
            panic!("the size hint tells");
        };
        assert_eq!(text(body).await, "12345");
        let mut declared = HeaderMap::new();
        declared.insert(CONTENT_LENGTH, 10.into());
        assert!(matches!(
            collect(&declared, chunks(&["x"]), 4).await,
            Collected::Streamed(_)
        ));
    }

    #[tokio::test]
    async fn a_failing_body_is_replayed_with_its_error() {
        let frames: Vec<Result<Frame<Bytes>, BoxError>> = vec![
            Ok(Frame::data(Bytes::from_static(b"part"))),
            Err("broken".into()),
        ];
        let body = Body::new(StreamBody::new(futures_util::stream::iter(frames)));
        let Collected::Failed(body) = collect(&HeaderMap::new(), body, 100).await else {
            panic!("the body failed");
        };
        let mut body = Box::pin(body);
        let first = body.frame().await.unwrap().unwrap();
        assert_eq!(first.into_data().unwrap(), "part");
        assert!(body.frame().await.unwrap().is_err());
    }
}
