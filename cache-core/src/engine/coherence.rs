//! Cross-process coherence: what the L2's backplane reports is applied here. Another
//! process's invalidation reaches this L1; when the backplane is lost, L1 is emptied (it may
//! have missed invalidations) and degraded (`degraded_ttl`) until the backplane is back, when
//! it is emptied again.

use std::sync::{Arc, Weak};

use parking_lot::Mutex;

use crate::l2::{Invalidation, InvalidationSink};

use super::Inner;

/// The backplane's view of a cache. The L2 is attached (and may report) before the cache's
/// state exists: until [`link`](Self::link), the last connection state reported is kept and
/// applied at link time; invalidations are dropped (L1 is still empty). After the cache is
/// dropped, reports are ignored.
pub(crate) struct BackplaneSink {
    link: Mutex<Link>,
}

enum Link {
    Pending { connected: Option<bool> },
    Linked(Weak<Inner>),
}

impl BackplaneSink {
    pub(crate) fn new() -> Self {
        Self {
            link: Mutex::new(Link::Pending { connected: None }),
        }
    }

    /// Links the sink to the cache it reports to, applying a connection state reported
    /// during the attach.
    pub(crate) fn link(&self, inner: &Arc<Inner>) {
        let mut link = self.link.lock();
        if let Link::Pending {
            connected: Some(connected),
        } = *link
        {
            set_connected(inner, connected);
        }
        *link = Link::Linked(Arc::downgrade(inner));
    }

    fn linked(&self, f: impl FnOnce(&Inner)) {
        if let Link::Linked(inner) = &*self.link.lock()
            && let Some(inner) = inner.upgrade()
        {
            f(&inner);
        }
    }
}

fn set_connected(inner: &Inner, connected: bool) {
    // One event per change of state, never one per call.
    if inner.l1.enabled() != connected {
        if connected {
            tracing::info!(
                cache = inner.metrics_label(),
                "backplane connected: L1 coherent again"
            );
        } else {
            tracing::warn!(
                cache = inner.metrics_label(),
                "backplane lost: L1 emptied; new entries kept at most degraded_ttl until it is back"
            );
        }
    }
    if !connected {
        inner.l1.set_enabled(false);
    }
    // Whatever L1 holds may have missed invalidations while cut off.
    inner.l1.clear();
    if connected {
        inner.l1.set_enabled(true);
    }
}

impl InvalidationSink for BackplaneSink {
    fn invalidate(&self, invalidation: Invalidation) {
        self.linked(|inner| inner.invalidate_local(&invalidation));
    }

    fn lease_released(&self, key: &str) {
        self.linked(|inner| inner.fleet.wake(key));
    }

    fn set_connected(&self, connected: bool) {
        let mut link = self.link.lock();
        match &mut *link {
            Link::Pending { connected: state } => *state = Some(connected),
            Link::Linked(inner) => {
                if let Some(inner) = inner.upgrade() {
                    set_connected(&inner, connected);
                }
            }
        }
    }
}
