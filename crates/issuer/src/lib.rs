//! The local test issuer of the statistics API's bearer tokens.
//!
//! Locally there is no identity provider, so this crate plays one: a signing key ([`SigningKey`],
//! RS256; ES256 keys for the tests too) kept as PKCS#8 under the checkout's `.local/issuer/`, the JWKS
//! that publishes its public half (written next to it and served by [`JwksServer`] on the address
//! the `local` environment's `api.jwksUrl` names), and tokens signed with it
//! ([`LocalIssuer::token`]). The tests use the same pieces to make keys the API must reject.
//! Nothing here is deployed: the functions only ever see the JWKS.

pub mod keys;
pub mod server;

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

pub use keys::{KeyKind, SigningKey, jwks};
pub use server::JwksServer;

/// Why the issuer could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum IssuerError {
    #[error("cannot {action} {path}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the key in {0} is not a usable PKCS#8 key; delete it to make a new one")]
    BadKey(PathBuf),
    #[error("a key could not be made or used: {0}")]
    Crypto(String),
}

/// The claims of a token the issuer makes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenClaims {
    pub iss: String,
    pub sub: String,
    pub aud: Vec<String>,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
}

impl TokenClaims {
    /// Claims for `sub` and `aud`, valid from `now` to `exp`.
    pub fn new(
        issuer: &str,
        sub: &str,
        aud: &[String],
        now: DateTime<Utc>,
        exp: DateTime<Utc>,
    ) -> TokenClaims {
        // A token that expired before it was issued is still a token (the tests want those): its
        // `iat` and `nbf` are then its expiry, an hour earlier.
        let from = if exp <= now {
            exp - chrono::TimeDelta::hours(1)
        } else {
            now
        };
        TokenClaims {
            iss: issuer.to_owned(),
            sub: sub.to_owned(),
            aud: aud.to_vec(),
            iat: from.timestamp(),
            nbf: from.timestamp(),
            exp: exp.timestamp(),
        }
    }
}

/// The kind of the local issuer's key: RS256, the one algorithm every JWT authorizer takes (the
/// emulator's HTTP API checks RS256 signatures only).
pub const LOCAL_KEY_KIND: KeyKind = KeyKind::Rs256;

/// The file names under the issuer's directory.
pub const KEY_FILE: &str = "signing-key.p8";
pub const JWKS_FILE: &str = "jwks.json";

/// The issuer of one checkout: its key, loaded from (or first made in) a directory.
#[derive(Debug)]
pub struct LocalIssuer {
    dir: PathBuf,
    issuer: String,
    key: SigningKey,
}

impl LocalIssuer {
    /// The issuer `issuer` whose key lives in `dir` (`.local/issuer`): the key is made on first
    /// use (readable by its owner only) and kept, and `jwks.json` is written beside it.
    pub fn open(dir: &Path, issuer: &str) -> Result<LocalIssuer, IssuerError> {
        let io = |action, path: &Path| {
            let path = path.to_path_buf();
            move |source| IssuerError::Io {
                action,
                path,
                source,
            }
        };
        std::fs::create_dir_all(dir).map_err(io("create", dir))?;
        let key_path = dir.join(KEY_FILE);
        let key = match std::fs::read(&key_path) {
            Ok(der) => SigningKey::from_pkcs8(LOCAL_KEY_KIND, &der)
                .map_err(|_| IssuerError::BadKey(key_path.clone()))?,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                let key = SigningKey::generate(LOCAL_KEY_KIND)?;
                write_private(&key_path, key.pkcs8()).map_err(io("write", &key_path))?;
                key
            }
            Err(err) => return Err(io("read", &key_path)(err)),
        };
        let jwks_path = dir.join(JWKS_FILE);
        let document = serde_json::to_string_pretty(&jwks(&[&key])).unwrap_or_default();
        std::fs::write(&jwks_path, document + "\n").map_err(io("write", &jwks_path))?;
        Ok(LocalIssuer {
            dir: dir.to_path_buf(),
            issuer: issuer.to_owned(),
            key,
        })
    }

    /// The `iss` of its tokens.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// Where its key and JWKS are.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The signing key.
    pub fn key(&self) -> &SigningKey {
        &self.key
    }

    /// The JWKS that publishes the key.
    pub fn jwks(&self) -> Value {
        jwks(&[&self.key])
    }

    /// A token for `sub` and `aud` that expires at `exp` (which may be in the past).
    pub fn token(
        &self,
        sub: &str,
        aud: &[String],
        exp: DateTime<Utc>,
    ) -> Result<String, IssuerError> {
        let claims = TokenClaims::new(&self.issuer, sub, aud, Utc::now(), exp);
        self.key.sign(&claims)
    }
}

/// Writes a file only its owner can read.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_is_made_once_and_kept() {
        let dir = std::env::temp_dir().join(format!("userlog-issuer-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let first = LocalIssuer::open(&dir, "http://127.0.0.1:8081/").unwrap();
        let again = LocalIssuer::open(&dir, "http://127.0.0.1:8081/").unwrap();
        assert_eq!(first.key().kid(), again.key().kid());
        let written: Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join(JWKS_FILE)).unwrap()).unwrap();
        assert_eq!(written, first.jwks());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(dir.join(KEY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o077, 0, "{mode:o}");
        }
        std::fs::write(dir.join(KEY_FILE), b"not a key").unwrap();
        let err = LocalIssuer::open(&dir, "i").unwrap_err();
        assert!(err.to_string().contains("not a usable PKCS#8 key"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn expired_tokens_are_issued_before_they_expire() {
        let now: DateTime<Utc> = "2026-12-01T00:00:00Z".parse().unwrap();
        let past: DateTime<Utc> = "2026-11-01T00:00:00Z".parse().unwrap();
        let claims = TokenClaims::new("i", "s", &["a".to_owned()], now, past);
        assert_eq!(claims.exp, past.timestamp());
        assert_eq!(claims.nbf, past.timestamp() - 3600);
        let later = now + chrono::TimeDelta::hours(1);
        let claims = TokenClaims::new("i", "s", &["a".to_owned()], now, later);
        assert_eq!(
            (claims.nbf, claims.exp),
            (now.timestamp(), later.timestamp())
        );
    }
}
