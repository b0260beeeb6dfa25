//! Behaviour of `RedisL2` under a real `cache_core::Cache`, against real `redis-server`
//! processes the tests start (no mock of Redis anywhere).

mod certs;
mod common;

mod acl;
mod attach;
mod cluster;
mod coherence;
mod durability;
mod faults;
mod fleet;
mod processes;
mod put;
mod refused;
mod tls;
mod write_through;
