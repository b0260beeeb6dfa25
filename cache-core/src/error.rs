//! The crate's error type.

use crate::l2::L2Error;

/// Errors of building or installing a cache, and of explicit L2 health checks.
///
/// Lookups and loads never return this type: a cache failure on the read or write path is
/// counted in [`Stats`](crate::Stats), logged, and the call falls back to the next level.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A builder setting is out of range.
    #[error("invalid cache configuration: `{setting}` {reason}")]
    InvalidConfig {
        /// The builder method at fault.
        setting: &'static str,
        /// What is wrong with its value.
        reason: String,
    },
    /// [`install`](crate::install) was called after the global cache was installed or used.
    #[error("the global cache is already in use; call `install` once, before the first use")]
    GlobalInUse,
    /// The L2 reported a failure (from [`Cache::health`](crate::Cache::health)).
    #[error("L2 error: {0}")]
    L2(#[from] L2Error),
    /// The L2 could not be attached to the cache being built (e.g. it already serves another).
    #[error("the L2 could not be attached: {0}")]
    L2Attach(#[source] crate::l2::BoxError),
}

impl Error {
    pub(crate) fn config(setting: &'static str, reason: impl Into<String>) -> Self {
        Self::InvalidConfig {
            setting,
            reason: reason.into(),
        }
    }
}
