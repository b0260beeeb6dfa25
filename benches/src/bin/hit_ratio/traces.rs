//! The vendored real traces (`benches/traces/*.u64.xz`, see the README there for their
//! sources and licences): xz-compressed little-endian `u64` keys.

use std::fmt;
use std::io::BufReader;
use std::path::PathBuf;

/// The traces, in the order the table lists them.
pub const NAMES: &[&str] = &[
    "cache2k-orm-busy",
    "cache2k-web07",
    "lirs-2_pools",
    "lirs-gli",
    "lirs-loop",
    "lirs-multi1",
    "lirs-ps",
    "lirs-sprite",
];

/// Why a trace could not be read.
#[derive(Debug)]
pub struct TraceError {
    path: PathBuf,
    reason: String,
}

impl fmt::Display for TraceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cannot read trace {}: {}",
            self.path.display(),
            self.reason
        )
    }
}

/// The keys of trace `name`, in access order.
pub fn load(name: &str) -> Result<Vec<u64>, TraceError> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("traces")
        .join(format!("{name}.u64.xz"));
    let fail = |reason: String| TraceError {
        path: path.clone(),
        reason,
    };
    let file = std::fs::File::open(&path).map_err(|e| fail(e.to_string()))?;
    let mut bytes = Vec::new();
    lzma_rs::xz_decompress(&mut BufReader::new(file), &mut bytes)
        .map_err(|e| fail(format!("not valid xz: {e}")))?;
    if bytes.len() % 8 != 0 {
        return Err(fail(format!(
            "{} bytes is not a whole number of u64 keys",
            bytes.len()
        )));
    }
    Ok(bytes
        .chunks_exact(8)
        .map(|chunk| u64::from_le_bytes(chunk.try_into().expect("chunks of 8 bytes")))
        .collect())
}
