//! Where the GitHub calls go, from the variables GitHub Actions sets: `GITHUB_API_URL` (default
//! `https://api.github.com`), `GITHUB_REPOSITORY` (`owner/repo`) and `GITHUB_TOKEN`.

use std::fmt;

use secrecy::SecretString;

/// The API used when `GITHUB_API_URL` is not set.
pub const DEFAULT_API_URL: &str = "https://api.github.com";

/// A repository, `owner/name`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repository {
    /// Its owner.
    pub owner: String,
    /// Its name.
    pub name: String,
}

impl Repository {
    /// Parses `owner/name`: two non-empty parts of letters, digits, `-`, `_` and `.`.
    pub fn parse(text: &str) -> Result<Self, SettingsError> {
        let plain = |part: &str| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        };
        match text.split_once('/') {
            Some((owner, name)) if plain(owner) && plain(name) => Ok(Repository {
                owner: owner.to_owned(),
                name: name.to_owned(),
            }),
            _ => Err(SettingsError(format!(
                "GITHUB_REPOSITORY `{text}` is not `owner/repo`"
            ))),
        }
    }
}

impl fmt::Display for Repository {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.owner, self.name)
    }
}

/// The settings are there but wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SettingsError(pub String);

/// Where the GitHub calls go and how they authenticate.
#[derive(Debug, Clone)]
pub struct GitHubSettings {
    /// The REST API's root.
    pub api_url: String,
    /// The repository.
    pub repository: Repository,
    /// The token.
    pub token: SecretString,
}

impl GitHubSettings {
    /// The settings from variables looked up with `lookup`; `None` without `GITHUB_TOKEN` (a
    /// local run, where the GitHub steps are skipped).
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<Self>, SettingsError> {
        let Some(token) = lookup("GITHUB_TOKEN").filter(|t| !t.trim().is_empty()) else {
            return Ok(None);
        };
        let repository = lookup("GITHUB_REPOSITORY").ok_or_else(|| {
            SettingsError(
                "GITHUB_TOKEN is set but GITHUB_REPOSITORY (`owner/repo`) is not".to_owned(),
            )
        })?;
        let api_url = lookup("GITHUB_API_URL")
            .filter(|url| !url.trim().is_empty())
            .unwrap_or_else(|| DEFAULT_API_URL.to_owned());
        if !(api_url.starts_with("https://") || api_url.starts_with("http://")) {
            return Err(SettingsError(format!(
                "GITHUB_API_URL `{api_url}` is not an http(s) URL"
            )));
        }
        Ok(Some(GitHubSettings {
            api_url: api_url.trim_end_matches('/').to_owned(),
            repository: Repository::parse(repository.trim())?,
            token: SecretString::from(token),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(vars: &[(&str, &str)]) -> Result<Option<GitHubSettings>, SettingsError> {
        GitHubSettings::from_lookup(|name| {
            vars.iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| (*value).to_owned())
        })
    }

    #[test]
    fn without_a_token_there_is_nothing_to_call() {
        assert!(settings(&[("GITHUB_REPOSITORY", "o/r")]).unwrap().is_none());
        assert!(
            settings(&[("GITHUB_TOKEN", " "), ("GITHUB_REPOSITORY", "o/r")])
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn the_api_url_defaults_to_github_com() {
        let found = settings(&[
            ("GITHUB_TOKEN", "t"),
            ("GITHUB_REPOSITORY", "userlog/userlog"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(found.api_url, DEFAULT_API_URL);
        assert_eq!(found.repository.to_string(), "userlog/userlog");
        let enterprise = settings(&[
            ("GITHUB_TOKEN", "t"),
            ("GITHUB_REPOSITORY", "o/r"),
            ("GITHUB_API_URL", "https://ghe.example.com/api/v3/"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(enterprise.api_url, "https://ghe.example.com/api/v3");
    }

    #[test]
    fn a_token_without_a_proper_repository_is_an_error() {
        assert!(settings(&[("GITHUB_TOKEN", "t")]).is_err());
        for bad in ["o", "o/", "/r", "o/r/x", "o r/x"] {
            assert!(
                settings(&[("GITHUB_TOKEN", "t"), ("GITHUB_REPOSITORY", bad)]).is_err(),
                "{bad}"
            );
        }
        assert!(
            settings(&[
                ("GITHUB_TOKEN", "t"),
                ("GITHUB_REPOSITORY", "o/r"),
                ("GITHUB_API_URL", "ftp://x")
            ])
            .is_err()
        );
    }
}
