//! The circuit breaker in front of every Redis operation: after `threshold` consecutive
//! failures (no answer, no connection, a timeout) calls skip Redis for a cool-down, then one
//! probe is let through (half-open) and its outcome closes or reopens the breaker. An outage
//! thus costs callers one timeout each `cooldown`, not one per call. Answers, even errors the
//! server returns (a wrong type, garbage), prove Redis is there and close it.

use std::future::Future;
use std::time::{Duration, Instant};

use cache_core::l2::{BreakerState, L2Error, L2ErrorKind};
use parking_lot::Mutex;

/// Breaker settings (see `RedisL2Builder::breaker_threshold` and `breaker_cooldown`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct BreakerSettings {
    pub(crate) threshold: u32,
    pub(crate) cooldown: Duration,
}

/// A circuit breaker (one per `RedisL2`).
pub(crate) struct Breaker {
    settings: BreakerSettings,
    state: Mutex<State>,
}

#[derive(Debug, Clone, Copy)]
enum State {
    Closed { failures: u32 },
    Open { until: Instant },
    HalfOpen { probing: bool },
}

/// What `admit` decided for one call.
enum Admission {
    Pass,
    Probe,
}

impl Breaker {
    pub(crate) fn new(settings: BreakerSettings) -> Self {
        Self {
            settings,
            state: Mutex::new(State::Closed { failures: 0 }),
        }
    }

    /// The state, as health checks report it.
    pub(crate) fn state(&self) -> BreakerState {
        match *self.state.lock() {
            State::Closed { .. } => BreakerState::Closed,
            State::Open { until } if Instant::now() >= until => BreakerState::HalfOpen,
            State::Open { .. } => BreakerState::Open,
            State::HalfOpen { .. } => BreakerState::HalfOpen,
        }
    }

    /// Runs `operation` unless the breaker is open, and records its outcome.
    pub(crate) async fn call<T>(
        &self,
        operation: impl Future<Output = Result<T, L2Error>>,
    ) -> Result<T, L2Error> {
        let admission = self.admit()?;
        // A probe whose caller goes away before the outcome lets the next call probe.
        let mut guard = ProbeGuard {
            breaker: self,
            armed: matches!(admission, Admission::Probe),
        };
        let result = operation.await;
        guard.armed = false;
        self.record(result.as_ref().err());
        result
    }

    fn admit(&self) -> Result<Admission, L2Error> {
        let mut state = self.state.lock();
        match *state {
            State::Closed { .. } => Ok(Admission::Pass),
            State::Open { until } if Instant::now() >= until => {
                *state = State::HalfOpen { probing: true };
                Ok(Admission::Probe)
            }
            State::HalfOpen { probing: false } => {
                *state = State::HalfOpen { probing: true };
                Ok(Admission::Probe)
            }
            State::Open { .. } | State::HalfOpen { probing: true } => Err(L2Error::new(
                L2ErrorKind::CircuitOpen,
                "Redis skipped: the circuit breaker is open",
            )),
        }
    }

    fn record(&self, error: Option<&L2Error>) {
        let failed = error.is_some_and(|error| counts_as_failure(error.kind));
        let mut state = self.state.lock();
        let before = *state;
        *state = match (before, failed) {
            (_, false) => State::Closed { failures: 0 },
            (State::Closed { failures }, true) if failures + 1 < self.settings.threshold => {
                State::Closed {
                    failures: failures + 1,
                }
            }
            // Threshold reached, or the probe failed: (re)open for a cool-down.
            (State::Closed { .. } | State::HalfOpen { .. }, true) => State::Open {
                until: Instant::now() + self.settings.cooldown,
            },
            // A call admitted before the breaker opened failed too: already open.
            (State::Open { until }, true) => State::Open { until },
        };
        match (before, *state) {
            (State::Closed { .. }, State::Open { .. }) => tracing::warn!(
                cooldown = ?self.settings.cooldown,
                error = %error.map(ToString::to_string).unwrap_or_default(),
                "Redis circuit breaker open: calls skip Redis during the cool-down"
            ),
            (State::HalfOpen { .. } | State::Open { .. }, State::Closed { .. }) => {
                tracing::info!("Redis circuit breaker closed: Redis answers again");
            }
            _ => {}
        }
    }
}

/// Whether an error says Redis is not there (as opposed to an answer it gave, or a call that
/// was not attempted).
fn counts_as_failure(kind: L2ErrorKind) -> bool {
    kind != L2ErrorKind::Protocol && !kind.is_skipped()
}

struct ProbeGuard<'a> {
    breaker: &'a Breaker,
    armed: bool,
}

impl Drop for ProbeGuard<'_> {
    fn drop(&mut self) {
        if self.armed {
            let mut state = self.breaker.state.lock();
            if let State::HalfOpen { probing: true } = *state {
                *state = State::HalfOpen { probing: false };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn breaker(cooldown: Duration) -> Breaker {
        Breaker::new(BreakerSettings {
            threshold: 3,
            cooldown,
        })
    }

    fn timeout() -> L2Error {
        L2Error::new(L2ErrorKind::Timeout, "no answer")
    }

    async fn fail(breaker: &Breaker) -> Result<(), L2Error> {
        breaker.call(async { Err::<(), _>(timeout()) }).await
    }

    async fn succeed(breaker: &Breaker) -> Result<(), L2Error> {
        breaker.call(async { Ok(()) }).await
    }

    #[tokio::test]
    async fn opens_after_the_threshold_and_skips() {
        let breaker = breaker(Duration::from_secs(60));
        for _ in 0..3 {
            assert_eq!(fail(&breaker).await.unwrap_err().kind, L2ErrorKind::Timeout);
        }
        assert_eq!(breaker.state(), BreakerState::Open);
        let mut ran = false;
        let skipped = breaker
            .call(async {
                ran = true;
                Ok(())
            })
            .await;
        assert_eq!(skipped.unwrap_err().kind, L2ErrorKind::CircuitOpen);
        assert!(!ran, "an open breaker does not run the operation");
    }

    #[tokio::test]
    async fn a_success_resets_the_count_and_answers_do_not_count() {
        let breaker = breaker(Duration::from_secs(60));
        fail(&breaker).await.unwrap_err();
        fail(&breaker).await.unwrap_err();
        succeed(&breaker).await.unwrap();
        fail(&breaker).await.unwrap_err();
        fail(&breaker).await.unwrap_err();
        let protocol = L2Error::new(L2ErrorKind::Protocol, "WRONGTYPE");
        for _ in 0..5 {
            breaker
                .call(async { Err::<(), _>(protocol.clone()) })
                .await
                .unwrap_err();
        }
        assert_eq!(breaker.state(), BreakerState::Closed);
    }

    #[tokio::test]
    async fn half_open_lets_one_probe_through() {
        let breaker = breaker(Duration::from_millis(1));
        for _ in 0..3 {
            fail(&breaker).await.unwrap_err();
        }
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(breaker.state(), BreakerState::HalfOpen);
        // The probe fails: open again.
        fail(&breaker).await.unwrap_err();
        assert!(matches!(*breaker.state.lock(), State::Open { .. }));
        std::thread::sleep(Duration::from_millis(5));
        // While a probe is in flight, other calls skip; a dropped probe lets the next one try.
        let probe = breaker.admit().unwrap();
        assert!(matches!(probe, Admission::Probe));
        assert_eq!(
            succeed(&breaker).await.unwrap_err().kind,
            L2ErrorKind::CircuitOpen
        );
        drop(ProbeGuard {
            breaker: &breaker,
            armed: true,
        });
        succeed(&breaker).await.unwrap();
        assert_eq!(breaker.state(), BreakerState::Closed);
    }
}
