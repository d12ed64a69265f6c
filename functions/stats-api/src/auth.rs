//! The bearer token check: a JWT signed by one of the issuer's keys (its JWKS), with the
//! configured issuer and one of the audiences, inside its `nbf`..`exp` window give or take a small
//! leeway, and signed with an allowed algorithm (RS256 or ES256; never `none`, never HMAC).
//!
//! The keys are cached. A token whose `kid` is not in the cache fetches the JWKS again, at most
//! once per `refetch_interval`, so that a key the issuer rotated in is found at once while a
//! stream of made-up key ids cannot turn into a stream of fetches; the cache is also refreshed
//! when older than `max_key_age`, so a key the issuer retired stops being accepted.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, JwkSet, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;

/// The algorithms a token may be signed with.
pub const ALLOWED_ALGORITHMS: [Algorithm; 2] = [Algorithm::RS256, Algorithm::ES256];

/// Where the keys come from and what a token must say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthSettings {
    /// The issuer's JWKS document.
    pub jwks_url: String,
    /// The `iss` every token must carry.
    pub issuer: String,
    /// A token's `aud` must name one of these.
    pub audiences: Vec<String>,
    /// How far `exp` and `nbf` may be off (clock skew).
    pub leeway: Duration,
    /// The least time between two fetches for an unknown `kid`.
    pub refetch_interval: Duration,
    /// How long fetched keys are used before the JWKS is fetched again.
    pub max_key_age: Duration,
}

/// The claims the API reads from a valid token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub iss: String,
    pub exp: i64,
    #[serde(default)]
    pub nbf: Option<i64>,
    #[serde(default)]
    pub iat: Option<i64>,
}

/// Why a request is not authenticated. Every case but [`AuthError::KeysUnavailable`] is a 401.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("no bearer token was given")]
    Missing,
    #[error("the Authorization header is not `Bearer <token>`")]
    NotBearer,
    #[error("the token is not a JWT")]
    Malformed,
    #[error("the token's algorithm is not allowed (RS256 and ES256 are)")]
    AlgorithmNotAllowed,
    #[error("the token names no key (`kid`)")]
    NoKeyId,
    #[error("the token's key is not one of the issuer's")]
    UnknownKey,
    #[error("the token's algorithm does not match its key")]
    KeyMismatch,
    #[error("the token's signature is not valid")]
    BadSignature,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet")]
    NotYetValid,
    #[error("the token is for another issuer")]
    WrongIssuer,
    #[error("the token is for another audience")]
    WrongAudience,
    #[error("the token lacks a required claim or a claim is malformed")]
    BadClaims,
    #[error("the issuer's signing keys could not be fetched")]
    KeysUnavailable,
}

impl AuthError {
    /// The `error` of RFC 6750's `WWW-Authenticate` challenge: none when no token was given.
    pub fn challenge_error(&self) -> Option<&'static str> {
        match self {
            AuthError::Missing => None,
            AuthError::NotBearer => Some("invalid_request"),
            _ => Some("invalid_token"),
        }
    }
}

/// One key of the JWKS.
#[derive(Clone)]
struct CachedKey {
    key: DecodingKey,
    algorithm: Algorithm,
}

#[derive(Default)]
struct KeyCache {
    keys: HashMap<String, CachedKey>,
    /// When the keys were last fetched successfully.
    fetched_at: Option<Instant>,
    /// When a fetch was last tried, successful or not.
    tried_at: Option<Instant>,
}

/// Checks bearer tokens against the issuer's JWKS, caching its keys.
pub struct Verifier {
    settings: AuthSettings,
    http: reqwest::Client,
    cache: Mutex<KeyCache>,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl Verifier {
    pub fn new(settings: AuthSettings, http: reqwest::Client) -> Verifier {
        Verifier {
            settings,
            http,
            cache: Mutex::new(KeyCache::default()),
        }
    }

    pub fn settings(&self) -> &AuthSettings {
        &self.settings
    }

    /// Checks the value of an `Authorization` header.
    pub async fn verify(&self, authorization: Option<&str>) -> Result<Claims, AuthError> {
        let token = bearer_token(authorization)?;
        let header = decode_header(token).map_err(|_| AuthError::Malformed)?;
        if !ALLOWED_ALGORITHMS.contains(&header.alg) {
            return Err(AuthError::AlgorithmNotAllowed);
        }
        let kid = header.kid.as_deref().ok_or(AuthError::NoKeyId)?;
        let key = self.key(kid).await?;
        if key.algorithm != header.alg {
            return Err(AuthError::KeyMismatch);
        }
        let mut validation = Validation::new(header.alg);
        validation.algorithms = vec![header.alg];
        validation.leeway = self.settings.leeway.as_secs();
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.set_issuer(&[self.settings.issuer.as_str()]);
        validation.set_audience(&self.settings.audiences);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        decode::<Claims>(token, &key.key, &validation)
            .map(|data| data.claims)
            .map_err(|err| classify(&err))
    }

    /// The key `kid`, from the cache or, when it is not there (or the cache is old), the JWKS.
    async fn key(&self, kid: &str) -> Result<CachedKey, AuthError> {
        let mut cache = self.cache.lock().await;
        let now = Instant::now();
        let stale = cache
            .fetched_at
            .is_none_or(|at| now.duration_since(at) >= self.settings.max_key_age);
        let may_refetch = cache
            .tried_at
            .is_none_or(|at| now.duration_since(at) >= self.settings.refetch_interval);
        let known = cache.keys.contains_key(kid);
        if (stale || !known) && may_refetch {
            cache.tried_at = Some(now);
            match self.fetch().await {
                Ok(keys) => {
                    cache.keys = keys;
                    cache.fetched_at = Some(now);
                }
                Err(err) => {
                    tracing::warn!(url = %self.settings.jwks_url, error = %err, "the JWKS could not be fetched");
                    if cache.fetched_at.is_none() {
                        return Err(AuthError::KeysUnavailable);
                    }
                }
            }
        }
        cache.keys.get(kid).cloned().ok_or(AuthError::UnknownKey)
    }

    /// Fetches and reads the JWKS.
    async fn fetch(&self) -> Result<HashMap<String, CachedKey>, String> {
        let response = self
            .http
            .get(&self.settings.jwks_url)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if !response.status().is_success() {
            return Err(format!("the JWKS answered {}", response.status()));
        }
        let body = response.bytes().await.map_err(|e| e.to_string())?;
        let set: JwkSet =
            serde_json::from_slice(&body).map_err(|e| format!("the JWKS does not read: {e}"))?;
        Ok(usable_keys(&set))
    }
}

/// The token of an `Authorization: Bearer <token>` header.
fn bearer_token(authorization: Option<&str>) -> Result<&str, AuthError> {
    let value = authorization.map(str::trim).ok_or(AuthError::Missing)?;
    if value.is_empty() {
        return Err(AuthError::Missing);
    }
    let (scheme, token) = value.split_once(' ').ok_or(AuthError::NotBearer)?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(AuthError::NotBearer);
    }
    let token = token.trim();
    if token.is_empty() {
        return Err(AuthError::NotBearer);
    }
    Ok(token)
}

/// The keys of a JWKS that can check tokens here: signing keys with a `kid`, of an allowed
/// algorithm (named by `alg`, or implied by an RSA or P-256 key).
fn usable_keys(set: &JwkSet) -> HashMap<String, CachedKey> {
    let mut keys = HashMap::new();
    for jwk in &set.keys {
        let Some(kid) = jwk.common.key_id.clone() else {
            continue;
        };
        if matches!(&jwk.common.public_key_use, Some(u) if *u != PublicKeyUse::Signature) {
            continue;
        }
        let implied = match &jwk.algorithm {
            AlgorithmParameters::RSA(_) => Some(Algorithm::RS256),
            AlgorithmParameters::EllipticCurve(ec) if ec.curve == EllipticCurve::P256 => {
                Some(Algorithm::ES256)
            }
            _ => None,
        };
        let algorithm = match jwk.common.key_algorithm {
            Some(KeyAlgorithm::RS256) => Some(Algorithm::RS256),
            Some(KeyAlgorithm::ES256) => Some(Algorithm::ES256),
            Some(_) => None,
            None => implied,
        };
        let Some(algorithm) = algorithm.filter(|a| Some(*a) == implied) else {
            continue;
        };
        if let Ok(key) = DecodingKey::from_jwk(jwk) {
            keys.insert(kid, CachedKey { key, algorithm });
        }
    }
    keys
}

/// The reason for a failed check.
fn classify(err: &jsonwebtoken::errors::Error) -> AuthError {
    use jsonwebtoken::errors::ErrorKind;
    match err.kind() {
        ErrorKind::InvalidSignature => AuthError::BadSignature,
        ErrorKind::ExpiredSignature => AuthError::Expired,
        ErrorKind::ImmatureSignature => AuthError::NotYetValid,
        ErrorKind::InvalidIssuer => AuthError::WrongIssuer,
        ErrorKind::InvalidAudience => AuthError::WrongAudience,
        ErrorKind::InvalidAlgorithm => AuthError::AlgorithmNotAllowed,
        ErrorKind::MissingRequiredClaim(_) | ErrorKind::Json(_) => AuthError::BadClaims,
        _ => AuthError::Malformed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(header: Option<&str>, expected: Result<&str, AuthError>) {
        assert_eq!(bearer_token(header), expected, "{header:?}");
    }

    #[test]
    fn reads_bearer_headers() {
        check(None, Err(AuthError::Missing));
        check(Some("  "), Err(AuthError::Missing));
        check(Some("Bearer abc"), Ok("abc"));
        check(Some("bearer  abc "), Ok("abc"));
        check(Some("Basic dXNlcjpwYXNz"), Err(AuthError::NotBearer));
        check(Some("Bearer"), Err(AuthError::NotBearer));
        check(Some("Bearer  "), Err(AuthError::NotBearer));
    }
}
