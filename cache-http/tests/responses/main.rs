//! The response cache through a real server on a loopback port and a real HTTP client: each
//! storing and answering rule, concurrency, the failure paths, and (with a real Redis) two
//! processes sharing responses.

mod concurrency;
mod failures;
mod processes;
mod rules;
mod support;
