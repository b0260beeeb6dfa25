//! Failovers with real processes: a Redis Sentinel deployment (master, replica, three
//! sentinels) failed over on request (`SENTINEL FAILOVER`) and by SIGKILL of the master, and a
//! local Redis Cluster with replicas losing a master, all while callers run. Slow (each
//! failover takes seconds), hence a test binary of its own.
//!
//! `cargo test -p cache-redis --test failover -- --nocapture` prints one row of the table in
//! `BENCHMARKS.md` ("Faults", failovers) per scenario.

#[allow(dead_code)]
#[path = "../it/certs.rs"]
mod certs;
#[allow(dead_code)]
#[path = "../it/common.rs"]
mod common;

mod callers;
mod cluster;
mod scenario;
mod sentinel;
