//! The bearer token check against a real JWKS over HTTP, with tokens signed by real keys: the
//! issuer's (ES256 and RS256), another key, none at all (`alg: none`), tampered ones, expired,
//! not yet valid, for another issuer or audience; and the key cache (a rotated-in key is
//! fetched, unknown key ids do not turn into a stream of fetches, a JWKS that cannot be fetched).

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use stats_api::{AuthError, AuthSettings, Verifier};
use userlog_issuer::keys::encode_json;
use userlog_issuer::{JwksServer, KeyKind, SigningKey, jwks};

const ISSUER: &str = "http://127.0.0.1:8081/";
const AUDIENCE: &str = "userlog-stats-api";

fn settings(jwks_url: String, refetch_interval: Duration) -> AuthSettings {
    AuthSettings {
        jwks_url,
        issuer: ISSUER.to_owned(),
        audiences: vec![AUDIENCE.to_owned()],
        leeway: Duration::from_secs(30),
        refetch_interval,
        max_key_age: Duration::from_secs(600),
    }
}

fn verifier(server: &JwksServer, refetch_interval: Duration) -> Verifier {
    Verifier::new(
        settings(server.jwks_url(), refetch_interval),
        userlog_aws::http_client().unwrap(),
    )
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Claims that are valid for an hour.
fn claims() -> Value {
    json!({"iss": ISSUER, "sub": "alice", "aud": [AUDIENCE], "iat": now(), "nbf": now(), "exp": now() + 3600})
}

/// `claims()` with `changes` applied (a null removes the claim).
fn claims_with(changes: Value) -> Value {
    let mut claims = claims();
    for (name, value) in changes.as_object().unwrap() {
        if value.is_null() {
            claims.as_object_mut().unwrap().remove(name);
        } else {
            claims[name] = value.clone();
        }
    }
    claims
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// Checks one token: `Ok(sub)` or the error.
async fn check(verifier: &Verifier, token: &str, expected: Result<&str, AuthError>) {
    let got = verifier
        .verify(Some(&bearer(token)))
        .await
        .map(|claims| claims.sub);
    assert_eq!(got.as_deref().map_err(Clone::clone), expected, "{token}");
}

struct Keys {
    es: SigningKey,
    rs: SigningKey,
    other: SigningKey,
}

fn keys() -> Keys {
    Keys {
        es: SigningKey::generate(KeyKind::Es256).unwrap(),
        rs: SigningKey::generate(KeyKind::Rs256).unwrap(),
        other: SigningKey::generate(KeyKind::Es256).unwrap(),
    }
}

async fn server(keys: &[&SigningKey]) -> JwksServer {
    JwksServer::start(([127, 0, 0, 1], 0).into(), ISSUER, jwks(keys))
        .await
        .unwrap()
}

#[tokio::test]
async fn valid_tokens_of_either_algorithm_pass() {
    let keys = keys();
    let server = server(&[&keys.es, &keys.rs]).await;
    let verifier = verifier(&server, Duration::from_secs(30));
    check(&verifier, &keys.es.sign(&claims()).unwrap(), Ok("alice")).await;
    check(&verifier, &keys.rs.sign(&claims()).unwrap(), Ok("alice")).await;
    // `aud` as one string, and within the leeway of `exp` and `nbf`.
    let single = claims_with(json!({"aud": AUDIENCE, "exp": now() - 10, "nbf": now() + 10}));
    check(&verifier, &keys.es.sign(&single).unwrap(), Ok("alice")).await;
    // Both keys came from one fetch.
    assert_eq!(server.fetches(), 1);
}

#[tokio::test]
async fn forged_unsigned_and_tampered_tokens_are_refused() {
    let keys = keys();
    let server = server(&[&keys.es, &keys.rs]).await;
    let verifier = verifier(&server, Duration::from_secs(30));

    // Unsigned: `alg: none`, with and without a key id, and with no signature part at all.
    let payload = encode_json(&claims()).unwrap();
    for header in [
        json!({"alg": "none", "typ": "JWT"}),
        json!({"alg": "none", "typ": "JWT", "kid": keys.es.kid()}),
    ] {
        let unsigned = format!("{}.{payload}.", encode_json(&header).unwrap());
        check(&verifier, &unsigned, Err(AuthError::Malformed)).await;
        check(
            &verifier,
            unsigned.trim_end_matches('.'),
            Err(AuthError::Malformed),
        )
        .await;
    }

    // Signed by a key the issuer does not publish, under its own key id or the issuer's.
    check(
        &verifier,
        &keys.other.sign(&claims()).unwrap(),
        Err(AuthError::UnknownKey),
    )
    .await;
    let posing = keys
        .other
        .sign_with_header(
            &json!({"alg": "ES256", "typ": "JWT", "kid": keys.es.kid()}),
            &claims(),
        )
        .unwrap();
    check(&verifier, &posing, Err(AuthError::BadSignature)).await;

    // Tampered: another subject in the payload, the signature kept.
    let token = keys.es.sign(&claims()).unwrap();
    let parts: Vec<&str> = token.split('.').collect();
    let tampered_payload = encode_json(&claims_with(json!({"sub": "mallory"}))).unwrap();
    let tampered = format!("{}.{tampered_payload}.{}", parts[0], parts[2]);
    check(&verifier, &tampered, Err(AuthError::BadSignature)).await;
    // A signature with one byte changed.
    let mut signature = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
    signature[5] ^= 1;
    let flipped = format!(
        "{}.{}.{}",
        parts[0],
        parts[1],
        URL_SAFE_NO_PAD.encode(signature)
    );
    check(&verifier, &flipped, Err(AuthError::BadSignature)).await;

    // An RSA-signed token that names the EC key, and an HMAC token keyed with a public key.
    let mismatched = keys
        .rs
        .sign_with_header(
            &json!({"alg": "RS256", "typ": "JWT", "kid": keys.es.kid()}),
            &claims(),
        )
        .unwrap();
    check(&verifier, &mismatched, Err(AuthError::KeyMismatch)).await;
    let hmac_header =
        encode_json(&json!({"alg": "HS256", "typ": "JWT", "kid": keys.rs.kid()})).unwrap();
    let hmac = format!(
        "{hmac_header}.{payload}.{}",
        URL_SAFE_NO_PAD.encode([0u8; 32])
    );
    check(&verifier, &hmac, Err(AuthError::AlgorithmNotAllowed)).await;

    // Not a JWT at all, and no key id.
    check(&verifier, "not-a-jwt", Err(AuthError::Malformed)).await;
    let no_kid = keys
        .es
        .sign_with_header(&json!({"alg": "ES256", "typ": "JWT"}), &claims())
        .unwrap();
    check(&verifier, &no_kid, Err(AuthError::NoKeyId)).await;
}

#[tokio::test]
async fn times_issuers_audiences_and_claims_are_checked() {
    let keys = keys();
    let server = server(&[&keys.es]).await;
    let verifier = verifier(&server, Duration::from_secs(30));
    let sign = |changes: Value| keys.es.sign(&claims_with(changes)).unwrap();
    check(
        &verifier,
        &sign(json!({"exp": now() - 120})),
        Err(AuthError::Expired),
    )
    .await;
    check(
        &verifier,
        &sign(json!({"nbf": now() + 120})),
        Err(AuthError::NotYetValid),
    )
    .await;
    check(
        &verifier,
        &sign(json!({"iss": "https://other.example/"})),
        Err(AuthError::WrongIssuer),
    )
    .await;
    check(
        &verifier,
        &sign(json!({"aud": ["another-api"]})),
        Err(AuthError::WrongAudience),
    )
    .await;
    for missing in ["exp", "iss", "aud", "sub"] {
        check(
            &verifier,
            &sign(json!({missing: null})),
            Err(AuthError::BadClaims),
        )
        .await;
    }
    assert_eq!(verifier.verify(None).await, Err(AuthError::Missing));
    assert_eq!(
        verifier.verify(Some("Basic dXNlcjpwYXNz")).await,
        Err(AuthError::NotBearer)
    );
}

#[tokio::test]
async fn a_rotated_key_is_fetched_and_unknown_keys_are_rate_limited() {
    let keys = keys();
    let server = server(&[&keys.es]).await;

    // A long refetch interval: a stream of unknown key ids costs one fetch at most.
    let patient = verifier(&server, Duration::from_secs(3600));
    check(&patient, &keys.es.sign(&claims()).unwrap(), Ok("alice")).await;
    for _ in 0..5 {
        check(
            &patient,
            &keys.other.sign(&claims()).unwrap(),
            Err(AuthError::UnknownKey),
        )
        .await;
    }
    assert_eq!(
        server.fetches(),
        1,
        "unknown key ids refetched within the interval"
    );

    // The issuer rotates: the new key is published next to the old one, then the old one goes.
    let quick = verifier(&server, Duration::from_millis(50));
    check(&quick, &keys.es.sign(&claims()).unwrap(), Ok("alice")).await;
    let fetched = server.fetches();
    server.set_jwks(jwks(&[&keys.es, &keys.rs]));
    tokio::time::sleep(Duration::from_millis(60)).await;
    check(&quick, &keys.rs.sign(&claims()).unwrap(), Ok("alice")).await;
    assert_eq!(
        server.fetches(),
        fetched + 1,
        "the new key id fetched the JWKS"
    );
    check(&quick, &keys.es.sign(&claims()).unwrap(), Ok("alice")).await;
    assert_eq!(
        server.fetches(),
        fetched + 1,
        "a known key id is served from the cache"
    );
    // The old key is retired: the next fetch (here caused by an unknown key id) drops it.
    server.set_jwks(jwks(&[&keys.rs]));
    tokio::time::sleep(Duration::from_millis(60)).await;
    check(
        &quick,
        &keys.other.sign(&claims()).unwrap(),
        Err(AuthError::UnknownKey),
    )
    .await;
    assert_eq!(server.fetches(), fetched + 2);
    check(
        &quick,
        &keys.es.sign(&claims()).unwrap(),
        Err(AuthError::UnknownKey),
    )
    .await;
    check(&quick, &keys.rs.sign(&claims()).unwrap(), Ok("alice")).await;
}

#[tokio::test]
async fn keys_that_cannot_be_fetched_are_the_servers_failure() {
    let keys = keys();
    // A port that was free a moment ago and has nothing listening now.
    let addr = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let verifier = Verifier::new(
        settings(
            format!("http://{addr}/.well-known/jwks.json"),
            Duration::from_secs(30),
        ),
        userlog_aws::http_client().unwrap(),
    );
    check(
        &verifier,
        &keys.es.sign(&claims()).unwrap(),
        Err(AuthError::KeysUnavailable),
    )
    .await;
}
