//! The database URL every function needs: `DATABASE_URL` as given (local runs), or built from the
//! Secrets Manager secret named by `DATABASE_SECRET_ARN` (the JSON of an RDS secret: `host`,
//! `port`, `username`, `password`, `dbname`).
//!
//! Secrets that Aurora manages itself, and the stack's login secrets, hold only `username` and
//! `password`: the host, port, database name and TLS mode then come from `DATABASE_HOST`,
//! `DATABASE_PORT`, `DATABASE_NAME` and `DATABASE_SSLMODE`.

use aws_config::SdkConfig;
use secrecy::SecretString;
use serde::Deserialize;

use crate::error::AwsError;

/// Which of the database's endpoints a URL is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// The writer (or the proxy in front of it): `DATABASE_HOST`, or the secret's host.
    Writer,
    /// The reader, for code that only reads: `DATABASE_READER_HOST` where the environment has
    /// one, else as [`Endpoint::Writer`].
    Reader,
}

/// Reads the database URL from the process environment, fetching the secret when needed.
pub async fn database_url_from_env(config: &SdkConfig) -> Result<SecretString, AwsError> {
    database_url_from_env_for(config, Endpoint::Writer).await
}

/// [`database_url_from_env`] for `endpoint`. `DATABASE_URL`, when set, serves both.
pub async fn database_url_from_env_for(
    config: &SdkConfig,
    endpoint: Endpoint,
) -> Result<SecretString, AwsError> {
    let lookup = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    if let Some(url) = lookup("DATABASE_URL") {
        return Ok(SecretString::from(url));
    }
    let Some(arn) = lookup("DATABASE_SECRET_ARN") else {
        return Err(AwsError::Database(
            "neither DATABASE_URL nor DATABASE_SECRET_ARN is set".to_owned(),
        ));
    };
    database_url_for_secret(config, &arn, endpoint).await
}

/// The database URL of the login in secret `arn`, completed from the process environment.
pub async fn database_url_for_secret(
    config: &SdkConfig,
    arn: &str,
    endpoint: Endpoint,
) -> Result<SecretString, AwsError> {
    let lookup = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    let text = secret_text(config, arn).await?;
    database_url_from_secret_for(&text, lookup, endpoint)
}

/// The text of secret `arn`.
async fn secret_text(config: &SdkConfig, arn: &str) -> Result<String, AwsError> {
    let secret = aws_sdk_secretsmanager::Client::new(config)
        .get_secret_value()
        .secret_id(arn)
        .send()
        .await
        .map_err(AwsError::service("Secrets Manager GetSecretValue"))?;
    secret
        .secret_string()
        .map(str::to_owned)
        .ok_or_else(|| AwsError::Database("the database secret has no text".to_owned()))
}

/// Reads the secret `arn` (a JSON object with `username` and `password`).
pub async fn read_login(config: &SdkConfig, arn: &str) -> Result<(String, SecretString), AwsError> {
    login_from_secret(&secret_text(config, arn).await?)
}

/// The `username` and `password` of a secret's JSON (the error never quotes the secret).
pub fn login_from_secret(secret_json: &str) -> Result<(String, SecretString), AwsError> {
    let secret: DatabaseSecret = serde_json::from_str(secret_json).map_err(|_| {
        AwsError::Database(
            "the database secret is not JSON with `username` and `password`".to_owned(),
        )
    })?;
    Ok((secret.username, SecretString::from(secret.password)))
}

/// The fields of an RDS database secret that make a connection URL.
#[derive(Deserialize)]
struct DatabaseSecret {
    username: String,
    password: String,
    host: Option<String>,
    #[serde(default, deserialize_with = "port")]
    port: Option<u16>,
    dbname: Option<String>,
    /// The TLS mode; TLS is required unless the secret says otherwise (the local environment's
    /// loopback-only cluster says `disable`).
    sslmode: Option<String>,
}

/// The TLS modes a secret may name.
const SSL_MODES: [&str; 5] = ["disable", "prefer", "require", "verify-ca", "verify-full"];

/// Accepts a port as a number or as text, since secrets are written both ways.
fn port<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<u16>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Port {
        Number(u16),
        Text(String),
    }
    match Option::<Port>::deserialize(deserializer)? {
        None => Ok(None),
        Some(Port::Number(n)) => Ok(Some(n)),
        Some(Port::Text(t)) => t.trim().parse().map(Some).map_err(serde::de::Error::custom),
    }
}

/// Builds a `postgres://` URL from the secret's JSON; `lookup` gives `DATABASE_HOST`,
/// `DATABASE_PORT` and `DATABASE_NAME` for what the secret lacks. The connection requires TLS
/// unless the secret's `sslmode` names another mode.
pub fn database_url_from_secret(
    secret_json: &str,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<SecretString, AwsError> {
    database_url_from_secret_for(secret_json, lookup, Endpoint::Writer)
}

/// [`database_url_from_secret`] for `endpoint`: for the reader, `DATABASE_READER_HOST` (when
/// set) takes the place of the host.
pub fn database_url_from_secret_for(
    secret_json: &str,
    lookup: impl Fn(&str) -> Option<String>,
    endpoint: Endpoint,
) -> Result<SecretString, AwsError> {
    // The serde error could quote the secret: it is not passed on.
    let secret: DatabaseSecret = serde_json::from_str(secret_json).map_err(|_| {
        AwsError::Database(
            "the database secret is not JSON with `username` and `password`".to_owned(),
        )
    })?;
    let reader_host = match endpoint {
        Endpoint::Reader => lookup("DATABASE_READER_HOST"),
        Endpoint::Writer => None,
    };
    let host = reader_host
        .or(secret.host)
        .or_else(|| lookup("DATABASE_HOST"))
        .ok_or_else(|| {
            AwsError::Database(
                "the database secret has no `host`, and DATABASE_HOST is not set".to_owned(),
            )
        })?;
    let port = match secret.port {
        Some(port) => port,
        None => match lookup("DATABASE_PORT") {
            Some(text) => text
                .trim()
                .parse()
                .map_err(|_| AwsError::Database(format!("DATABASE_PORT `{text}` is not a port")))?,
            None => 5432,
        },
    };
    let dbname = secret
        .dbname
        .or_else(|| lookup("DATABASE_NAME"))
        .unwrap_or_else(|| "postgres".to_owned());
    let sslmode = secret
        .sslmode
        .or_else(|| lookup("DATABASE_SSLMODE"))
        .unwrap_or_else(|| "require".to_owned());
    if !SSL_MODES.contains(&sslmode.as_str()) {
        return Err(AwsError::Database(format!(
            "the database secret's sslmode is not one of {}",
            SSL_MODES.join(", ")
        )));
    }
    let host = if host.contains(':') {
        format!("[{host}]")
    } else {
        host
    };
    Ok(SecretString::from(format!(
        "postgres://{}:{}@{host}:{port}/{}?sslmode={sslmode}",
        percent_encode(&secret.username),
        percent_encode(&secret.password),
        percent_encode(&dbname)
    )))
}

/// Percent-encodes everything but the unreserved characters of RFC 3986.
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;

    use super::*;

    /// Builds the URL of `secret` with the environment `vars`, or the error's text.
    fn check(secret: &str, vars: &[(&str, &str)], expected: &str) {
        let lookup = |name: &str| {
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| (*v).to_owned())
        };
        let got = match database_url_from_secret(secret, lookup) {
            Ok(url) => url.expose_secret().to_owned(),
            Err(err) => err.to_string(),
        };
        assert_eq!(got, expected);
    }

    #[test]
    fn urls_from_rds_secrets() {
        check(
            r#"{"engine":"postgres","host":"db.cluster-x.ap-northeast-1.rds.amazonaws.com","port":5432,"username":"app","password":"p@ss:w/rd?&","dbname":"userlog"}"#,
            &[],
            "postgres://app:p%40ss%3Aw%2Frd%3F%26@db.cluster-x.ap-northeast-1.rds.amazonaws.com:5432/userlog?sslmode=require",
        );
        check(
            r#"{"username":"app","password":"pw"}"#,
            &[
                ("DATABASE_HOST", "proxy.example"),
                ("DATABASE_PORT", "6432"),
                ("DATABASE_NAME", "userlog"),
            ],
            "postgres://app:pw@proxy.example:6432/userlog?sslmode=require",
        );
        check(
            r#"{"username":"app","password":"pw","host":"::1","port":"5433"}"#,
            &[],
            "postgres://app:pw@[::1]:5433/postgres?sslmode=require",
        );
        check(
            r#"{"username":"app","password":"","sslmode":"disable"}"#,
            &[("DATABASE_HOST", "127.0.0.1")],
            "postgres://app:@127.0.0.1:5432/postgres?sslmode=disable",
        );
        check(
            r#"{"username":"app","password":"pw"}"#,
            &[
                ("DATABASE_HOST", "127.0.0.1"),
                ("DATABASE_SSLMODE", "disable"),
            ],
            "postgres://app:pw@127.0.0.1:5432/postgres?sslmode=disable",
        );
        check(
            r#"{"username":"app","password":"pw","host":"h","sslmode":"off"}"#,
            &[],
            "the database settings are not usable: the database secret's sslmode is not one of disable, prefer, require, verify-ca, verify-full",
        );
    }

    #[test]
    fn readers_connect_to_the_reader_host_where_there_is_one() {
        let url = |vars: &[(&str, &str)], endpoint| {
            let lookup = |name: &str| {
                vars.iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, v)| (*v).to_owned())
            };
            database_url_from_secret_for(r#"{"username":"app","password":"pw"}"#, lookup, endpoint)
                .map(|url| url.expose_secret().to_owned())
                .unwrap()
        };
        let both = [
            ("DATABASE_HOST", "proxy.example"),
            ("DATABASE_READER_HOST", "cluster-ro.example"),
        ];
        assert_eq!(
            url(&both, Endpoint::Reader),
            "postgres://app:pw@cluster-ro.example:5432/postgres?sslmode=require"
        );
        assert_eq!(
            url(&both, Endpoint::Writer),
            "postgres://app:pw@proxy.example:5432/postgres?sslmode=require"
        );
        assert_eq!(
            url(&both[..1], Endpoint::Reader),
            "postgres://app:pw@proxy.example:5432/postgres?sslmode=require"
        );
    }

    #[test]
    fn unusable_secrets_say_why_without_quoting_them() {
        check(
            r#"{"username":"app","password":"pw"}"#,
            &[],
            "the database settings are not usable: the database secret has no `host`, and DATABASE_HOST is not set",
        );
        check(
            r#"{"user":"app","password":"hunter2"}"#,
            &[],
            "the database settings are not usable: the database secret is not JSON with `username` and `password`",
        );
    }
}
