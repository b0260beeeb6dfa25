//! Redis L2 for `cache-core` (work in progress: see issue "The Redis L2").
#![warn(missing_docs)]

#[cfg(feature = "test-util")]
#[cfg_attr(docsrs, doc(cfg(feature = "test-util")))]
pub mod test_util;
