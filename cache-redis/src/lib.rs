//! Redis L2 for `cache-core` (work in progress: see issue "The Redis L2").
#![warn(missing_docs)]
