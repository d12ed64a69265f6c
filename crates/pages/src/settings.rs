//! Where the Pages calls go and how they authenticate, from `CLOUDFLARE_ACCOUNT_ID`,
//! `CLOUDFLARE_API_TOKEN` and `CLOUDFLARE_API_BASE_URL` (default
//! `https://api.cloudflare.com/client/v4`; tests point it at a stand-in).

use secrecy::SecretString;

/// The API used when `CLOUDFLARE_API_BASE_URL` is not set.
pub const DEFAULT_API_BASE_URL: &str = "https://api.cloudflare.com/client/v4";

/// The variable naming the account.
pub const ACCOUNT_ID_VAR: &str = "CLOUDFLARE_ACCOUNT_ID";

/// The variable holding the API token.
pub const API_TOKEN_VAR: &str = "CLOUDFLARE_API_TOKEN";

/// The variable naming the API's root.
pub const API_BASE_URL_VAR: &str = "CLOUDFLARE_API_BASE_URL";

/// The longest account id Cloudflare issues (32 hexadecimal digits).
const MAX_ACCOUNT_ID: usize = 32;

/// The settings are there but wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SettingsError(pub String);

/// The account, the token and the API's root. `Debug` shows the token as redacted.
#[derive(Debug, Clone)]
pub struct PagesSettings {
    /// The Cloudflare account that owns the Pages project.
    pub account_id: String,
    /// An API token with the "Cloudflare Pages: Edit" permission on that account.
    pub api_token: SecretString,
    /// The API's root, without a trailing `/`.
    pub api_base_url: String,
}

impl PagesSettings {
    /// The settings from the process environment; see [`PagesSettings::from_lookup`].
    pub fn from_env() -> Result<Option<Self>, SettingsError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// The settings from variables looked up with `lookup`: `None` when neither the account id
    /// nor the token is set (a local run, where the Pages steps are skipped), an error when only
    /// one of them is, or when a value is malformed. Blank values count as unset.
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<Self>, SettingsError> {
        let set = |name: &str| lookup(name).filter(|value| !value.trim().is_empty());
        let (account_id, api_token) = match (set(ACCOUNT_ID_VAR), set(API_TOKEN_VAR)) {
            (None, None) => return Ok(None),
            (Some(account_id), Some(api_token)) => (account_id, api_token),
            (Some(_), None) => {
                return Err(SettingsError(format!(
                    "{ACCOUNT_ID_VAR} is set but {API_TOKEN_VAR} is not: set both (a token with the \"Cloudflare Pages: Edit\" permission) or neither to skip the Pages steps"
                )));
            }
            (None, Some(_)) => {
                return Err(SettingsError(format!(
                    "{API_TOKEN_VAR} is set but {ACCOUNT_ID_VAR} is not: set both or neither to skip the Pages steps"
                )));
            }
        };
        let account_id = account_id.trim().to_owned();
        if account_id.len() > MAX_ACCOUNT_ID
            || !account_id.bytes().all(|b| b.is_ascii_alphanumeric())
        {
            return Err(SettingsError(format!(
                "{ACCOUNT_ID_VAR} `{account_id}` is not a Cloudflare account id (up to {MAX_ACCOUNT_ID} letters and digits)"
            )));
        }
        let api_base_url = set(API_BASE_URL_VAR)
            .map(|url| url.trim().trim_end_matches('/').to_owned())
            .unwrap_or_else(|| DEFAULT_API_BASE_URL.to_owned());
        if !(api_base_url.starts_with("https://") || api_base_url.starts_with("http://")) {
            return Err(SettingsError(format!(
                "{API_BASE_URL_VAR} `{api_base_url}` is not an http(s) URL"
            )));
        }
        Ok(Some(PagesSettings {
            account_id,
            api_token: SecretString::from(api_token.trim().to_owned()),
            api_base_url,
        }))
    }
}

#[cfg(test)]
mod tests {
    use expect_test::{Expect, expect};
    use secrecy::ExposeSecret;

    use super::*;

    fn check(vars: &[(&str, &str)], expected: Expect) {
        let found = PagesSettings::from_lookup(|name| {
            vars.iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| (*value).to_owned())
        });
        let actual = match found {
            Ok(Some(settings)) => format!(
                "account {} at {} with a token of {} characters",
                settings.account_id,
                settings.api_base_url,
                settings.api_token.expose_secret().len()
            ),
            Ok(None) => "skipped".to_owned(),
            Err(error) => format!("error: {error}"),
        };
        expected.assert_eq(&actual);
    }

    #[test]
    fn without_account_and_token_the_pages_steps_are_skipped() {
        check(&[], expect!["skipped"]);
        check(
            &[(ACCOUNT_ID_VAR, " "), (API_TOKEN_VAR, "")],
            expect!["skipped"],
        );
        check(
            &[(API_BASE_URL_VAR, "http://127.0.0.1:9")],
            expect!["skipped"],
        );
    }

    #[test]
    fn one_without_the_other_is_an_error() {
        check(
            &[(ACCOUNT_ID_VAR, "0123456789abcdef0123456789abcdef")],
            expect![[
                r#"error: CLOUDFLARE_ACCOUNT_ID is set but CLOUDFLARE_API_TOKEN is not: set both (a token with the "Cloudflare Pages: Edit" permission) or neither to skip the Pages steps"#
            ]],
        );
        check(
            &[(API_TOKEN_VAR, "secret-token-value")],
            expect![
                "error: CLOUDFLARE_API_TOKEN is set but CLOUDFLARE_ACCOUNT_ID is not: set both or neither to skip the Pages steps"
            ],
        );
    }

    #[test]
    fn the_base_url_defaults_to_cloudflare_and_can_point_elsewhere() {
        check(
            &[
                (ACCOUNT_ID_VAR, "0123456789abcdef0123456789abcdef"),
                (API_TOKEN_VAR, "secret-token-value"),
            ],
            expect![
                "account 0123456789abcdef0123456789abcdef at https://api.cloudflare.com/client/v4 with a token of 18 characters"
            ],
        );
        check(
            &[
                (ACCOUNT_ID_VAR, "abc"),
                (API_TOKEN_VAR, "t"),
                (API_BASE_URL_VAR, "http://127.0.0.1:8787/client/v4/"),
            ],
            expect!["account abc at http://127.0.0.1:8787/client/v4 with a token of 1 characters"],
        );
    }

    #[test]
    fn malformed_values_are_errors() {
        check(
            &[(ACCOUNT_ID_VAR, "abc/../def"), (API_TOKEN_VAR, "t")],
            expect![
                "error: CLOUDFLARE_ACCOUNT_ID `abc/../def` is not a Cloudflare account id (up to 32 letters and digits)"
            ],
        );
        check(
            &[
                (ACCOUNT_ID_VAR, "abc"),
                (API_TOKEN_VAR, "t"),
                (API_BASE_URL_VAR, "api.cloudflare.com"),
            ],
            expect!["error: CLOUDFLARE_API_BASE_URL `api.cloudflare.com` is not an http(s) URL"],
        );
    }

    #[test]
    fn the_token_never_shows_in_debug() {
        let settings = PagesSettings::from_lookup(|name| match name {
            ACCOUNT_ID_VAR => Some("abc".to_owned()),
            API_TOKEN_VAR => Some("do-not-print-me".to_owned()),
            _ => None,
        })
        .expect("valid")
        .expect("set");
        let debug = format!("{settings:?}");
        assert!(!debug.contains("do-not-print-me"), "{debug}");
        assert!(debug.contains("REDACTED"), "{debug}");
    }
}
