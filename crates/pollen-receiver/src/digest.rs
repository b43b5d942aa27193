//! The window digest of pollen's checkpoints.

use sha2::{Digest as _, Sha256};

/// The digest of an empty window: SHA-256 of the empty string.
pub const EMPTY_DIGEST: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// The checkpoint digest of a window's event ids: lowercase hex SHA-256 of each **distinct**
/// id (its bytes as found in the body), sorted ascending by bytes, each followed by one `\n`.
///
/// Order and repeats do not matter:
///
/// ```
/// use pollen_receiver::{digest, EMPTY_DIGEST};
///
/// assert_eq!(digest(["b", "a", "b"]), digest(["a", "b"]));
/// assert_eq!(digest(Vec::<String>::new()), EMPTY_DIGEST);
/// ```
pub fn digest<I, S>(ids: I) -> String
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let mut ids: Vec<S> = ids.into_iter().collect();
    ids.sort_unstable_by(|a, b| a.as_ref().as_bytes().cmp(b.as_ref().as_bytes()));
    ids.dedup_by(|a, b| a.as_ref() == b.as_ref());
    let mut hash = Sha256::new();
    for id in &ids {
        hash.update(id.as_ref().as_bytes());
        hash.update(b"\n");
    }
    hex(&hash.finalize())
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    out
}
