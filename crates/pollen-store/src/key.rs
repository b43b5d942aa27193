//! The key that encrypts secrets at rest, and the sealing of values under it.

use std::fmt;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use rand::RngCore;

use crate::error::{Error, ErrorKind, Result};

/// Sealed values start with this byte, so that a later format can be told apart.
const FORMAT_V1: u8 = 1;
const NONCE_LEN: usize = 12;
/// What the key check value encrypts; its decryption proves the key is the database's.
const KEY_CHECK_PLAINTEXT: &[u8] = b"pollen secret key check v1";
const KEY_CHECK_CONTEXT: &str = "key-check";

/// The AES-256-GCM key that encrypts instance secrets and tokens at rest.
///
/// `Debug` prints `SecretKey(***)`; the bytes are reachable only through
/// [`SecretKey::expose_base64`], for showing a newly generated key to an operator once.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretKey([u8; 32]);

impl SecretKey {
    /// A fresh random key from the operating system's generator.
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        SecretKey(bytes)
    }

    /// The key from 32 raw bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        SecretKey(bytes)
    }

    /// The key from its standard base64 text (as in `POLLEN_SECRET_KEY`); surrounding
    /// whitespace is ignored.
    ///
    /// The error names what is wrong (not base64, wrong length), never the text.
    pub fn from_base64(text: &str) -> Result<Self> {
        let decoded = STANDARD.decode(text.trim()).map_err(|e| {
            Error::new(
                ErrorKind::Key,
                format!("the secret key is not valid base64 ({e})"),
            )
        })?;
        let bytes: [u8; 32] = decoded.as_slice().try_into().map_err(|_| {
            Error::new(
                ErrorKind::Key,
                format!(
                    "the secret key must be base64 of 32 bytes, found {} bytes",
                    decoded.len()
                ),
            )
        })?;
        Ok(SecretKey(bytes))
    }

    /// The key as standard base64 text: for showing a generated key once, never for logs.
    pub fn expose_base64(&self) -> String {
        STANDARD.encode(self.0)
    }

    /// Where [`SecretKey::load_or_create_beside`] keeps the key of the database at `db_path`:
    /// the same path with `.key` appended (`pollen.db` → `pollen.db.key`).
    pub fn key_file_beside(db_path: &Path) -> PathBuf {
        let mut name = db_path.as_os_str().to_owned();
        name.push(".key");
        PathBuf::from(name)
    }

    /// The key of an embedded database: read from the key file beside `db_path`, or, on first
    /// run, generated and written there with mode 0600 (never overwriting an existing file, so
    /// two processes starting at once agree on one key).
    pub fn load_or_create_beside(db_path: &Path) -> Result<Self> {
        let path = Self::key_file_beside(db_path);
        let shown = path.display();
        let key = SecretKey::generate();
        let created = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path);
        match created {
            Ok(mut file) => {
                let mut text = key.expose_base64();
                text.push('\n');
                file.write_all(text.as_bytes())
                    .and_then(|()| file.sync_all())
                    .map_err(|e| {
                        Error::new(
                            ErrorKind::Key,
                            format!("cannot write the key file {shown}: {e}"),
                        )
                    })?;
                Ok(key)
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let text = std::fs::read_to_string(&path).map_err(|e| {
                    Error::new(
                        ErrorKind::Key,
                        format!("cannot read the key file {shown}: {e}"),
                    )
                })?;
                SecretKey::from_base64(&text).map_err(|e| {
                    Error::new(ErrorKind::Key, format!("key file {shown}: {}", e.message()))
                })
            }
            Err(e) => Err(Error::new(
                ErrorKind::Key,
                format!("cannot create the key file {shown}: {e}"),
            )),
        }
    }

    fn cipher(&self) -> Aes256Gcm {
        Aes256Gcm::new(&self.0.into())
    }

    /// Encrypts `plaintext`, bound to `context` (the row and field it belongs to, so that a
    /// sealed value copied to another row does not open there).
    pub(crate) fn seal(&self, context: &str, plaintext: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let payload = Payload {
            msg: plaintext,
            aad: context.as_bytes(),
        };
        // Encryption with a valid key and a 12-byte nonce fails only for messages beyond
        // 64 GiB, which no caller produces.
        let sealed = self
            .cipher()
            .encrypt(Nonce::from_slice(&nonce), payload)
            .unwrap_or_default();
        let mut out = Vec::with_capacity(1 + NONCE_LEN + sealed.len());
        out.push(FORMAT_V1);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        out
    }

    /// Decrypts a value sealed under `context`; `None` if it was sealed under another key or
    /// context, or altered.
    pub(crate) fn open(&self, context: &str, sealed: &[u8]) -> Option<Vec<u8>> {
        let (&format, rest) = sealed.split_first()?;
        if format != FORMAT_V1 || rest.len() < NONCE_LEN {
            return None;
        }
        let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
        self.cipher()
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: context.as_bytes(),
                },
            )
            .ok()
    }

    /// Decrypts a sealed UTF-8 string, or says which value is damaged (never its content).
    pub(crate) fn open_text(&self, context: &str, sealed: &[u8]) -> Result<String> {
        self.open(context, sealed)
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .ok_or_else(|| Error::corrupt(format!("the encrypted {context} does not decrypt")))
    }

    /// The value stored once per database to recognise its key.
    pub(crate) fn key_check(&self) -> Vec<u8> {
        self.seal(KEY_CHECK_CONTEXT, KEY_CHECK_PLAINTEXT)
    }

    /// Whether `check` (from [`SecretKey::key_check`]) was made with this key.
    pub(crate) fn verify(&self, check: &[u8]) -> Result<()> {
        match self.open(KEY_CHECK_CONTEXT, check) {
            Some(plain) if plain == KEY_CHECK_PLAINTEXT => Ok(()),
            _ => Err(Error::new(
                ErrorKind::KeyMismatch,
                "the secret key does not open this database's secrets: it is not the key the \
                 database was created with (check POLLEN_SECRET_KEY, or the key file beside an \
                 embedded database)",
            )),
        }
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey(***)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_opens_only_with_its_key_and_context() {
        let key = SecretKey::generate();
        let sealed = key.seal("instance/1/config", b"hello");
        assert_eq!(key.open("instance/1/config", &sealed).unwrap(), b"hello");
        assert!(key.open("instance/2/config", &sealed).is_none());
        assert!(SecretKey::generate()
            .open("instance/1/config", &sealed)
            .is_none());
        let mut altered = sealed.clone();
        *altered.last_mut().unwrap() ^= 1;
        assert!(key.open("instance/1/config", &altered).is_none());
        assert!(key.open("x", &[]).is_none());
    }

    #[test]
    fn base64_round_trip_and_errors() {
        let key = SecretKey::generate();
        let text = key.expose_base64();
        assert_eq!(SecretKey::from_base64(&format!(" {text}\n")).unwrap(), key);
        let short = SecretKey::from_base64("AAAA").unwrap_err();
        assert_eq!(
            short.message(),
            "the secret key must be base64 of 32 bytes, found 3 bytes"
        );
        assert_eq!(
            SecretKey::from_base64("not base64!").unwrap_err().kind(),
            ErrorKind::Key
        );
        assert_eq!(format!("{key:?}"), "SecretKey(***)");
    }

    #[test]
    fn key_check_tells_keys_apart() {
        let key = SecretKey::generate();
        let check = key.key_check();
        key.verify(&check).unwrap();
        let other = SecretKey::generate().verify(&check).unwrap_err();
        assert_eq!(other.kind(), ErrorKind::KeyMismatch);
    }
}
