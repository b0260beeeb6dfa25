//! The response cache: a tower layer storing responses to `GET` and `HEAD` in a
//! [`cache_core::Cache`] (documented at the crate root, "HTTP response caching").
//!
//! One purpose per file: [`layer`] (settings), [`service`] (which requests are looked up),
//! [`read_path`] and [`fill`] (lookup, and the loader that runs the handler), [`write_path`]
//! (invalidation by unsafe methods), [`policy`] and [`directives`] (what may be stored, for how
//! long), [`key`], [`stored`] (the stored form, a contract across processes), [`body`]
//! (reading a body in full, up to a limit), [`etag`], [`status`] (`Cache-Status`), [`respond`]
//! (the client's response) and [`route_stats`] (counters by route).

mod body;
mod directives;
mod etag;
mod exchange;
mod fill;
mod key;
mod layer;
mod policy;
mod read_path;
mod respond;
mod route_stats;
mod service;
mod status;
mod stored;
mod write_path;

pub use layer::{DEFAULT_MAX_BODY_BYTES, DEFAULT_RESPONSE_TTL, ResponseCacheLayer};
pub use route_stats::{ResponseStats, RouteStats, UNMATCHED_ROUTE};
pub use service::{ResponseCacheService, ResponseFuture};
pub use stored::{HttpEntry, StoredResponse, VaryMarker};
