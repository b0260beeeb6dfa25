//! Fixtures shared by the criterion benchmarks in `benches/` (the benchmarks themselves live
//! there).
#![forbid(unsafe_code)]

use serde::{Deserialize, Serialize};

/// A typical cached value: a six-field user profile (about 60 bytes in bincode).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Profile {
    /// Id.
    pub id: u64,
    /// Display name.
    pub name: String,
    /// E-mail address.
    pub email: String,
    /// Role names.
    pub roles: Vec<String>,
    /// A score.
    pub score: f64,
    /// Whether the account is active.
    pub active: bool,
}

/// The profile every benchmark uses.
pub fn profile() -> Profile {
    Profile {
        id: 42,
        name: "Ada Lovelace".into(),
        email: "ada@example.com".into(),
        roles: vec!["admin".into(), "billing".into(), "support".into()],
        score: 97.5,
        active: true,
    }
}
