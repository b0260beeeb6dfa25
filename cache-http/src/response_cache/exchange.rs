//! [`Exchange`]: one `GET`/`HEAD` request as its lookup and its loader share it: the request,
//! the handler to fill the cache with, and what the loader did for this request.

use std::marker::PhantomData;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::body::Body;
use cache_core::EntryOptions;
use http::header::{IF_MATCH, IF_MODIFIED_SINCE, IF_NONE_MATCH, IF_RANGE, IF_UNMODIFIED_SINCE};
use http::{Method, Request, Response, StatusCode, Uri, request};

use super::key::request_uri;
use super::layer::Shared;
use super::stored::StoredResponse;

/// What this request's own loader did (a refresh-ahead reload in the background, run for
/// another request or long after, never writes it).
#[derive(Debug)]
pub(crate) enum LoadOutcome {
    /// No loader ran for this request.
    NotRun,
    /// The loader stored the response with this id.
    Stored { id: u64 },
    /// The loader learned that the URI's responses vary: it stored the `Vary` note; this
    /// response is still to be stored as the request's variant, with these options.
    Learned {
        response: StoredResponse,
        options: EntryOptions,
    },
    /// The loader got a response that is not stored: the client gets it as it is.
    Passed {
        response: Response<Body>,
        reason: &'static str,
    },
    /// The handler failed with this status (500 for a panic or a service error).
    Failed { status: StatusCode },
}

/// One lookup's request, shared with its loader.
pub(crate) struct Exchange<H, B> {
    pub(crate) shared: Arc<Shared>,
    /// The client's request (its body was empty).
    pub(crate) request: request::Parts,
    /// The URI's key, also the tag of every entry of the URI.
    pub(crate) uri_key: String,
    handler: Mutex<H>,
    outcome: Mutex<LoadOutcome>,
    /// The task the request is served on: a loader running on another is a background reload.
    task: Option<tokio::task::Id>,
    body: PhantomData<fn() -> B>,
}

impl<H: Clone, B: Default> Exchange<H, B> {
    pub(crate) fn new(shared: Arc<Shared>, request: request::Parts, handler: H) -> Self {
        let uri_key = super::key::uri_key(
            &shared.key_prefix,
            request_uri(&request.extensions, &request.uri),
        );
        Self {
            shared,
            request,
            uri_key,
            handler: Mutex::new(handler),
            outcome: Mutex::new(LoadOutcome::NotRun),
            task: tokio::task::try_id(),
            body: PhantomData,
        }
    }

    /// The URI the client asked for (before a nesting router stripped its prefix).
    pub(crate) fn uri(&self) -> &Uri {
        request_uri(&self.request.extensions, &self.request.uri)
    }

    /// A copy of the handler.
    pub(crate) fn handler(&self) -> H {
        lock(&self.handler).clone()
    }

    /// The client's request again, for a handler run that fills nothing.
    pub(crate) fn client_request(&self) -> Request<B> {
        Request::from_parts(self.request.clone(), B::default())
    }

    /// The request that fills the cache: a `GET` (for a `HEAD` too, so the body is stored)
    /// without the client's conditions (so the handler answers in full).
    pub(crate) fn fill_request(&self) -> Request<B> {
        let mut parts = self.request.clone();
        parts.method = Method::GET;
        for name in [
            IF_NONE_MATCH,
            IF_MODIFIED_SINCE,
            IF_MATCH,
            IF_UNMODIFIED_SINCE,
            IF_RANGE,
        ] {
            parts.headers.remove(name);
        }
        Request::from_parts(parts, B::default())
    }
}

impl<H, B> Exchange<H, B> {
    /// Records what the loader did, when it runs for this request (inline, on its task).
    pub(crate) fn record(&self, outcome: LoadOutcome) {
        if tokio::task::try_id() == self.task {
            *lock(&self.outcome) = outcome;
        }
    }

    /// What this request's loader did, leaving [`LoadOutcome::NotRun`].
    pub(crate) fn take_outcome(&self) -> LoadOutcome {
        std::mem::replace(&mut *lock(&self.outcome), LoadOutcome::NotRun)
    }
}

/// Locks a mutex, past a panic of another holder (the data stays consistent: one assignment).
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
