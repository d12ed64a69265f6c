//! `cargo xtask token [--env local] [--sub S] [--aud A] [--exp RFC3339]`: a bearer token of the
//! local test issuer for the statistics API, printed as the last (and only) line of stdout. Any
//! environment but `local` is refused: its issuer is a real identity provider.

use std::process::ExitCode;

use anyhow::Context as _;
use chrono::{DateTime, TimeDelta, Utc};
use userlog_issuer::LocalIssuer;
use userlog_local::LocalStack;

use crate::cli::TokenArgs;
use crate::serve_api::{local_config, local_only};

pub(crate) fn run(args: &TokenArgs) -> anyhow::Result<ExitCode> {
    if let Err(message) = local_only(&args.env, "token") {
        eprintln!("error: {message}");
        return Ok(ExitCode::from(2));
    }
    let exp = match expiry(args.exp.as_deref(), Utc::now()) {
        Ok(exp) => exp,
        Err(message) => {
            eprintln!("error: {message}");
            return Ok(ExitCode::from(2));
        }
    };
    println!("{}", local_token(&args.sub, args.aud.as_deref(), exp)?);
    Ok(ExitCode::SUCCESS)
}

/// A token of the local test issuer for `sub`, for `audience` (default: the local environment's
/// first), expiring at `exp`.
pub(crate) fn local_token(
    sub: &str,
    audience: Option<&str>,
    exp: DateTime<Utc>,
) -> anyhow::Result<String> {
    let config = local_config()?;
    let audience = audience
        .map(str::to_owned)
        .or_else(|| config.auth.audiences.first().cloned())
        .context("the local environment names no audience")?;
    let stack = LocalStack::discover().context("cannot tell where the local state lives")?;
    let issuer = LocalIssuer::open(&stack.dir().service_dir("issuer"), &config.auth.issuer)
        .context("cannot open the local test issuer")?;
    issuer
        .token(sub, &[audience], exp)
        .context("cannot sign the token")
}

/// When the token expires: `--exp` (RFC 3339, past times allowed), or an hour from `now`.
fn expiry(exp: Option<&str>, now: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
    match exp {
        None => Ok(now + TimeDelta::hours(1)),
        Some(text) => DateTime::parse_from_rfc3339(text)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|_| {
                format!("--exp `{text}` is not an RFC 3339 time such as 2026-12-01T00:00:00Z")
            }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiries_are_rfc_3339_or_an_hour_from_now() {
        let now: DateTime<Utc> = "2026-12-01T00:00:00Z".parse().unwrap();
        assert_eq!(expiry(None, now), Ok(now + TimeDelta::hours(1)));
        assert_eq!(
            expiry(Some("2020-01-01T09:00:00+09:00"), now).map(|t| t.to_rfc3339()),
            Ok("2020-01-01T00:00:00+00:00".to_owned())
        );
        assert!(expiry(Some("yesterday"), now).is_err_and(|e| e.contains("not an RFC 3339")));
    }
}
