//! The mark a miss leaves for its load's write-through (`cache_core::l2::ReadMark`): what the read
//! saw of the key's invalidation marker and, for tagged entries, the namespace generation.

use cache_core::l2::ReadMark;

/// The mark a miss leaves for its load's write-through: `"<generation>/<marker>"`, either part
/// empty when unknown (the default mark: both).
pub(super) fn read_mark(marker: Option<String>, generation: Option<String>) -> ReadMark {
    if marker.is_none() && generation.is_none() {
        return ReadMark::default();
    }
    let generation = generation.unwrap_or_default();
    let marker = marker.unwrap_or_default();
    ReadMark::new(Some(format!("{generation}/{marker}")))
}

/// The marker the write expects (`''`: none) and the generation the load read (`''`:
/// unknown), from a [`read_mark`].
pub(super) fn parse_read_mark(mark: &ReadMark) -> (&str, &str) {
    match mark.seen() {
        None => ("", ""),
        Some(seen) => match seen.split_once('/') {
            Some((generation, marker)) => (marker, generation),
            None => (seen, ""),
        },
    }
}
