//! Signing keys, their JWKs, and compact JWS tokens signed with them (RFC 7515, 7517, 7518).
//!
//! Signing is done here with aws-lc-rs directly, not with the JWT library the API verifies
//! with, so the tests check the API against tokens made independently of it.

use aws_lc_rs::encoding::AsDer as _;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _, RSA_PKCS1_SHA256, RsaKeyPair,
};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use crate::IssuerError;

/// The kinds of key, by the JWS algorithm they sign with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// ECDSA on P-256 with SHA-256.
    Es256,
    /// RSASSA-PKCS1-v1_5 with SHA-256 (a 2048-bit key).
    Rs256,
}

impl KeyKind {
    /// The JWS `alg`.
    pub fn algorithm(self) -> &'static str {
        match self {
            KeyKind::Es256 => "ES256",
            KeyKind::Rs256 => "RS256",
        }
    }
}

enum Pair {
    Ec(EcdsaKeyPair),
    Rsa(RsaKeyPair),
}

/// A private key with its key id (the RFC 7638 thumbprint of its public JWK).
pub struct SigningKey {
    kind: KeyKind,
    pkcs8: Vec<u8>,
    pair: Pair,
    kid: String,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kind", &self.kind)
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

fn crypto(what: &str) -> impl FnOnce(aws_lc_rs::error::Unspecified) -> IssuerError + '_ {
    move |_| IssuerError::Crypto(what.to_owned())
}

impl SigningKey {
    /// A new key.
    pub fn generate(kind: KeyKind) -> Result<SigningKey, IssuerError> {
        let pkcs8 = match kind {
            KeyKind::Es256 => EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING)
                .and_then(|pair| pair.to_pkcs8v1())
                .map_err(crypto("a P-256 key could not be made"))?
                .as_ref()
                .to_vec(),
            KeyKind::Rs256 => RsaKeyPair::generate(KeySize::Rsa2048)
                .and_then(|pair| pair.as_der())
                .map_err(crypto("an RSA key could not be made"))?
                .as_ref()
                .to_vec(),
        };
        SigningKey::from_pkcs8(kind, &pkcs8)
    }

    /// The key of a PKCS#8 document.
    pub fn from_pkcs8(kind: KeyKind, der: &[u8]) -> Result<SigningKey, IssuerError> {
        let rejected = |e: aws_lc_rs::error::KeyRejected| IssuerError::Crypto(e.to_string());
        let pair = match kind {
            KeyKind::Es256 => Pair::Ec(
                EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der)
                    .map_err(rejected)?,
            ),
            KeyKind::Rs256 => Pair::Rsa(RsaKeyPair::from_pkcs8(der).map_err(rejected)?),
        };
        let mut key = SigningKey {
            kind,
            pkcs8: der.to_vec(),
            pair,
            kid: String::new(),
        };
        key.kid = thumbprint(&key.public_members());
        Ok(key)
    }

    pub fn kind(&self) -> KeyKind {
        self.kind
    }

    /// The key id: the base64url SHA-256 thumbprint of the public key (RFC 7638).
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The PKCS#8 document of the private key.
    pub fn pkcs8(&self) -> &[u8] {
        &self.pkcs8
    }

    /// The required members of the public JWK, in the lexicographic order RFC 7638 hashes.
    fn public_members(&self) -> Value {
        match &self.pair {
            Pair::Ec(pair) => {
                // An uncompressed point: 0x04, then x and y, 32 bytes each.
                let point = pair.public_key().as_ref();
                json!({
                    "crv": "P-256",
                    "kty": "EC",
                    "x": URL_SAFE_NO_PAD.encode(&point[1..33]),
                    "y": URL_SAFE_NO_PAD.encode(&point[33..65]),
                })
            }
            Pair::Rsa(pair) => {
                let (n, e) = rsa_public_numbers(pair.public_key().as_ref()).unwrap_or_default();
                json!({
                    "e": URL_SAFE_NO_PAD.encode(e),
                    "kty": "RSA",
                    "n": URL_SAFE_NO_PAD.encode(n),
                })
            }
        }
    }

    /// The public JWK, with `kid`, `alg` and `use`.
    pub fn jwk(&self) -> Value {
        let mut jwk = self.public_members();
        if let Some(members) = jwk.as_object_mut() {
            members.insert("kid".into(), Value::String(self.kid.clone()));
            members.insert("alg".into(), Value::String(self.kind.algorithm().into()));
            members.insert("use".into(), Value::String("sig".into()));
        }
        jwk
    }

    /// A compact JWS of `claims` with header `{"alg", "typ": "JWT", "kid"}`.
    pub fn sign(&self, claims: &impl Serialize) -> Result<String, IssuerError> {
        let header = json!({"alg": self.kind.algorithm(), "typ": "JWT", "kid": self.kid});
        self.sign_with_header(&header, claims)
    }

    /// A compact JWS of `claims` under any `header` (the tests sign headers that lie).
    pub fn sign_with_header(
        &self,
        header: &Value,
        claims: &impl Serialize,
    ) -> Result<String, IssuerError> {
        let signing_input = format!(
            "{}.{}",
            encode_json(header)?,
            encode_json(
                &serde_json::to_value(claims).map_err(|e| IssuerError::Crypto(e.to_string()))?
            )?
        );
        let signature = match &self.pair {
            Pair::Ec(pair) => pair
                .sign(&SystemRandom::new(), signing_input.as_bytes())
                .map_err(crypto("the token could not be signed"))?
                .as_ref()
                .to_vec(),
            Pair::Rsa(pair) => {
                let mut signature = vec![0; pair.public_modulus_len()];
                pair.sign(
                    &RSA_PKCS1_SHA256,
                    &SystemRandom::new(),
                    signing_input.as_bytes(),
                    &mut signature,
                )
                .map_err(crypto("the token could not be signed"))?;
                signature
            }
        };
        Ok(format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(signature)
        ))
    }
}

/// The modulus and exponent (big-endian, no leading zeros) of an RFC 8017 `RSAPublicKey`:
/// `SEQUENCE { INTEGER n, INTEGER e }` in DER.
fn rsa_public_numbers(der: &[u8]) -> Option<(&[u8], &[u8])> {
    /// One DER element of tag `tag` at the start of `input`: its content and what follows.
    fn element(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
        let (&first, rest) = input.split_first()?;
        if first != tag {
            return None;
        }
        let (&length, rest) = rest.split_first()?;
        let (length, rest) = if length < 0x80 {
            (usize::from(length), rest)
        } else {
            let count = usize::from(length & 0x7f);
            if count == 0 || count > 4 || rest.len() < count {
                return None;
            }
            let (bytes, rest) = rest.split_at(count);
            (
                bytes.iter().fold(0usize, |n, b| (n << 8) | usize::from(*b)),
                rest,
            )
        };
        (rest.len() >= length).then(|| rest.split_at(length))
    }
    fn strip(int: &[u8]) -> &[u8] {
        let zeros = int.iter().take_while(|b| **b == 0).count();
        &int[zeros.min(int.len().saturating_sub(1))..]
    }
    let (sequence, _) = element(der, 0x30)?;
    let (n, rest) = element(sequence, 0x02)?;
    let (e, _) = element(rest, 0x02)?;
    Some((strip(n), strip(e)))
}

/// The base64url of a JSON value's text.
pub fn encode_json(value: &Value) -> Result<String, IssuerError> {
    let text = serde_json::to_vec(value).map_err(|e| IssuerError::Crypto(e.to_string()))?;
    Ok(URL_SAFE_NO_PAD.encode(text))
}

/// The JWKS document of `keys`.
pub fn jwks(keys: &[&SigningKey]) -> Value {
    json!({"keys": keys.iter().map(|k| k.jwk()).collect::<Vec<_>>()})
}

/// The RFC 7638 thumbprint of the required members (already in lexicographic order).
fn thumbprint(members: &Value) -> String {
    let canonical = serde_json::to_string(members).unwrap_or_default();
    URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
}

#[cfg(test)]
mod tests {
    use aws_lc_rs::signature::{
        ECDSA_P256_SHA256_FIXED, RSA_PKCS1_2048_8192_SHA256, UnparsedPublicKey,
    };

    use super::*;

    /// Signs claims with a new key of `kind` and checks the signature with its JWK's key.
    fn check(kind: KeyKind) {
        let key = SigningKey::generate(kind).unwrap();
        let again = SigningKey::from_pkcs8(kind, key.pkcs8()).unwrap();
        assert_eq!(key.kid(), again.kid());
        let token = key.sign(&json!({"sub": "s"})).unwrap();
        let parts: Vec<&str> = token.split('.').collect();
        assert_eq!(parts.len(), 3);
        let header: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
        assert_eq!(header["alg"], kind.algorithm());
        assert_eq!(header["kid"], key.kid());
        let signature = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
        let message = format!("{}.{}", parts[0], parts[1]);
        let jwk = key.jwk();
        let b64 = |name: &str| URL_SAFE_NO_PAD.decode(jwk[name].as_str().unwrap()).unwrap();
        match kind {
            KeyKind::Es256 => {
                let mut point = vec![4u8];
                point.extend(b64("x"));
                point.extend(b64("y"));
                UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, point)
                    .verify(message.as_bytes(), &signature)
                    .unwrap();
            }
            KeyKind::Rs256 => {
                let components = aws_lc_rs::rsa::PublicKeyComponents {
                    n: b64("n"),
                    e: b64("e"),
                };
                components
                    .verify(&RSA_PKCS1_2048_8192_SHA256, message.as_bytes(), &signature)
                    .unwrap();
            }
        }
        assert_eq!(jwk["use"], "sig");
    }

    #[test]
    fn tokens_verify_with_the_published_key() {
        check(KeyKind::Es256);
        check(KeyKind::Rs256);
    }

    #[test]
    fn thumbprints_follow_rfc_7638() {
        // RFC 7638 section 3.1's example key and thumbprint.
        let members = json!({
            "e": "AQAB",
            "kty": "RSA",
            "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
        });
        assert_eq!(
            thumbprint(&members),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
    }
}
