//! Serialization of values for L2: the codec, compression and the type fingerprint.
//!
//! A stored value is `(fingerprint, format, payload)`:
//! - `fingerprint`: xxh3-64 of the value's Rust type name, seeded with the xxh3-64 of the codec
//!   name. A reader whose
//!   fingerprint differs (another type, another codec, a renamed type) treats the value as a
//!   miss, so an older build's values are never decoded as garbage.
//! - `format`: the low nibble is the codec ([`FORMAT_BINCODE`] or [`FORMAT_JSON`]); bit
//!   [`FORMAT_LZ4`] means the payload is LZ4-compressed with the uncompressed size prepended
//!   (4 bytes, little-endian), as `lz4_flex` writes it.
//! - `payload`: the encoded bytes (for JSON, plain UTF-8 JSON when uncompressed).

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::l2::StoredValue;

/// `format` nibble of bincode 2 (serde mode, standard configuration).
pub const FORMAT_BINCODE: u8 = 1;
/// `format` nibble of JSON (`serde_json`).
pub const FORMAT_JSON: u8 = 2;
/// `format` bit set when the payload is LZ4-compressed.
pub const FORMAT_LZ4: u8 = 0x10;

/// Largest uncompressed size accepted when decompressing, so a corrupt size prefix cannot make
/// the reader allocate gigabytes.
const MAX_DECOMPRESSED: usize = 256 << 20;

/// Default compression threshold of [`Codec`] in bytes.
pub const DEFAULT_COMPRESS_ABOVE: usize = 4096;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Bincode,
    Json,
}

/// How values are serialized for L2: bincode (the default) or JSON, with LZ4 compression of
/// payloads above a threshold.
///
/// ```
/// use cache_core::Codec;
/// let codec = Codec::json().compress_above(Some(64 * 1024));
/// let stored = codec.encode(&vec![1u32, 2, 3]).unwrap();
/// assert_eq!(stored.payload, b"[1,2,3]");
/// assert_eq!(codec.decode::<Vec<u32>>(&stored).unwrap(), Some(vec![1, 2, 3]));
/// // Another type reads it as absent, never as garbage.
/// assert_eq!(codec.decode::<Vec<u64>>(&stored).unwrap(), None);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Codec {
    kind: Kind,
    compress_above: Option<usize>,
}

impl Default for Codec {
    fn default() -> Self {
        Self::bincode()
    }
}

/// A value could not be encoded or decoded.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct CodecError(String);

impl Codec {
    /// bincode 2 in serde mode, standard configuration (compact, fast).
    pub fn bincode() -> Self {
        Self {
            kind: Kind::Bincode,
            compress_above: Some(DEFAULT_COMPRESS_ABOVE),
        }
    }

    /// JSON via `serde_json`: readable by any language (see `docs/redis-layout.md`).
    pub fn json() -> Self {
        Self {
            kind: Kind::Json,
            compress_above: Some(DEFAULT_COMPRESS_ABOVE),
        }
    }

    /// Compress payloads larger than this many bytes with LZ4; `None` never compresses.
    pub fn compress_above(mut self, bytes: Option<usize>) -> Self {
        self.compress_above = bytes;
        self
    }

    /// The codec's name: `"bincode"` or `"json"`.
    pub fn name(&self) -> &'static str {
        match self.kind {
            Kind::Bincode => "bincode",
            Kind::Json => "json",
        }
    }

    fn format(&self) -> u8 {
        match self.kind {
            Kind::Bincode => FORMAT_BINCODE,
            Kind::Json => FORMAT_JSON,
        }
    }

    /// The fingerprint values of type `V` carry under this codec.
    pub fn fingerprint<V: ?Sized>(&self) -> u64 {
        let seed = xxhash_rust::xxh3::xxh3_64(self.name().as_bytes());
        xxhash_rust::xxh3::xxh3_64_with_seed(std::any::type_name::<V>().as_bytes(), seed)
    }

    /// Encodes a value.
    pub fn encode<V: Serialize>(&self, value: &V) -> Result<StoredValue, CodecError> {
        let raw = match self.kind {
            Kind::Bincode => bincode::serde::encode_to_vec(value, bincode::config::standard())
                .map_err(|e| CodecError(e.to_string()))?,
            Kind::Json => serde_json::to_vec(value).map_err(|e| CodecError(e.to_string()))?,
        };
        let mut format = self.format();
        let payload = match self.compress_above {
            Some(limit) if raw.len() > limit => {
                format |= FORMAT_LZ4;
                lz4_flex::compress_prepend_size(&raw)
            }
            _ => raw,
        };
        Ok(StoredValue {
            fingerprint: self.fingerprint::<V>(),
            format,
            payload,
        })
    }

    /// Decodes a value: `Ok(None)` when it was written for another type or codec, an error when
    /// the bytes are corrupt.
    pub fn decode<V: DeserializeOwned>(
        &self,
        stored: &StoredValue,
    ) -> Result<Option<V>, CodecError> {
        if stored.fingerprint != self.fingerprint::<V>() || stored.format & 0x0f != self.format() {
            return Ok(None);
        }
        let decompressed;
        let bytes: &[u8] = if stored.format & FORMAT_LZ4 != 0 {
            decompressed = decompress(&stored.payload)?;
            &decompressed
        } else {
            &stored.payload
        };
        let value = match self.kind {
            Kind::Bincode => {
                let (value, used) =
                    bincode::serde::decode_from_slice(bytes, bincode::config::standard())
                        .map_err(|e| CodecError(e.to_string()))?;
                if used != bytes.len() {
                    return Err(CodecError(format!("{} trailing bytes", bytes.len() - used)));
                }
                value
            }
            Kind::Json => serde_json::from_slice(bytes).map_err(|e| CodecError(e.to_string()))?,
        };
        Ok(Some(value))
    }
}

fn decompress(payload: &[u8]) -> Result<Vec<u8>, CodecError> {
    let size = payload
        .get(..4)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
        .ok_or_else(|| CodecError("truncated compressed payload".into()))?;
    if size > MAX_DECOMPRESSED {
        return Err(CodecError(format!("declared size {size} is too large")));
    }
    lz4_flex::decompress_size_prepended(payload).map_err(|e| CodecError(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_with_and_without_compression() {
        let big = "x".repeat(10_000);
        for codec in [Codec::bincode(), Codec::json()] {
            let stored = codec.encode(&big).unwrap();
            assert_ne!(stored.format & FORMAT_LZ4, 0);
            assert!(stored.payload.len() < 1000);
            assert_eq!(codec.decode::<String>(&stored).unwrap(), Some(big.clone()));
            let small = codec.encode(&7u8).unwrap();
            assert_eq!(small.format & FORMAT_LZ4, 0);
            assert_eq!(codec.decode::<u8>(&small).unwrap(), Some(7));
        }
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let codec = Codec::bincode();
        let mut stored = codec.encode(&"hello".to_string()).unwrap();
        stored.payload = vec![0xff; 3];
        assert!(codec.decode::<String>(&stored).is_err());
        stored.format |= FORMAT_LZ4;
        stored.payload = vec![0xff, 0xff, 0xff, 0x7f, 1, 2];
        assert!(codec.decode::<String>(&stored).is_err());
    }

    #[test]
    fn other_codec_or_type_is_absent() {
        let stored = Codec::bincode().encode(&1u32).unwrap();
        assert_eq!(Codec::json().decode::<u32>(&stored).unwrap(), None);
        assert_eq!(Codec::bincode().decode::<i32>(&stored).unwrap(), None);
    }
}
