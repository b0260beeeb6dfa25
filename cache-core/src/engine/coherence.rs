//! Cross-process coherence: what the L2's backplane reports is applied here. Another
//! process's invalidation reaches this L1; while the backplane is down, L1 is emptied and
//! switched off, since it may miss invalidations.

use std::sync::Weak;

use crate::l2::{Invalidation, InvalidationSink};

use super::Inner;

/// The backplane's view of a cache, which may have been dropped since.
pub(crate) struct BackplaneSink(pub(crate) Weak<Inner>);

impl InvalidationSink for BackplaneSink {
    fn invalidate(&self, invalidation: Invalidation) {
        if let Some(inner) = self.0.upgrade() {
            inner.invalidate_local(&invalidation);
        }
    }

    fn set_connected(&self, connected: bool) {
        if let Some(inner) = self.0.upgrade() {
            if !connected {
                inner.l1.set_enabled(false);
            }
            // Whatever L1 holds may have missed invalidations while cut off.
            inner.l1.clear(&inner.registry);
            if connected {
                inner.l1.set_enabled(true);
            }
        }
    }
}
