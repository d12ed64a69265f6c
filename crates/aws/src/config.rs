//! The AWS configuration and clients, built once per process and passed down.
//!
//! The SDK reads credentials, the region and endpoint overrides from the environment itself:
//! `AWS_ENDPOINT_URL` (every service) and `AWS_ENDPOINT_URL_<SERVICE>` such as
//! `AWS_ENDPOINT_URL_S3` point the clients at a local emulator. S3 then needs path-style
//! addressing, since an emulator on 127.0.0.1 does not resolve `<bucket>.<host>` names.

use aws_config::{BehaviorVersion, SdkConfig};

/// What this crate reads from the environment besides what the SDK reads itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AwsSettings {
    /// `AWS_ENDPOINT_URL`: one endpoint for every service.
    pub endpoint_url: Option<String>,
    /// `AWS_ENDPOINT_URL_S3`: the S3 endpoint only.
    pub s3_endpoint_url: Option<String>,
}

impl AwsSettings {
    /// Reads the settings from the process environment.
    pub fn from_env() -> AwsSettings {
        AwsSettings::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the settings through `lookup` (a variable's value by name); empty values count as unset.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> AwsSettings {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        AwsSettings {
            endpoint_url: get("AWS_ENDPOINT_URL"),
            s3_endpoint_url: get("AWS_ENDPOINT_URL_S3"),
        }
    }

    /// Whether S3 is reached through an endpoint override (a local emulator), which needs
    /// path-style addressing.
    pub fn s3_path_style(&self) -> bool {
        self.endpoint_url.is_some() || self.s3_endpoint_url.is_some()
    }
}

/// Loads the shared SDK configuration with the SDK's default chain (environment, profile,
/// container and instance credentials), honouring `AWS_ENDPOINT_URL` and its per-service forms.
pub async fn sdk_config() -> SdkConfig {
    loader().load().await
}

/// [`sdk_config`] in `region`, whatever the environment says: the tooling reaches each
/// environment in the region its parameters name.
pub async fn sdk_config_in(region: &str) -> SdkConfig {
    loader()
        .region(aws_config::Region::new(region.to_owned()))
        .load()
        .await
}

/// The SDK's default chain, at the behaviour version this project is tested with.
fn loader() -> aws_config::ConfigLoader {
    aws_config::defaults(BehaviorVersion::latest())
}

/// The configuration of a local emulator: its endpoint for every service, its region and its
/// dummy credentials, whatever the process environment says.
pub async fn emulator_config(
    endpoint: &str,
    region: &str,
    access_key_id: &str,
    secret_access_key: &str,
) -> (SdkConfig, AwsSettings) {
    let credentials = aws_sdk_s3::config::Credentials::new(
        access_key_id,
        secret_access_key,
        None,
        None,
        "local-emulator",
    );
    let config = loader()
        .endpoint_url(endpoint)
        .region(aws_config::Region::new(region.to_owned()))
        .credentials_provider(credentials)
        .load()
        .await;
    let settings = AwsSettings {
        endpoint_url: Some(endpoint.to_owned()),
        s3_endpoint_url: None,
    };
    (config, settings)
}

/// The S3 client, with path-style addressing when an endpoint override is set.
pub fn s3_client(config: &SdkConfig, settings: &AwsSettings) -> aws_sdk_s3::Client {
    let s3_config = aws_sdk_s3::config::Builder::from(config)
        .force_path_style(settings.s3_path_style())
        .build();
    aws_sdk_s3::Client::from_conf(s3_config)
}

/// Every client the functions use. Building one makes no network call.
#[derive(Debug, Clone)]
pub struct Clients {
    pub s3: aws_sdk_s3::Client,
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub sns: aws_sdk_sns::Client,
    pub sesv2: aws_sdk_sesv2::Client,
    pub ssm: aws_sdk_ssm::Client,
    pub secrets_manager: aws_sdk_secretsmanager::Client,
}

impl Clients {
    pub fn new(config: &SdkConfig, settings: &AwsSettings) -> Clients {
        Clients {
            s3: s3_client(config, settings),
            dynamodb: aws_sdk_dynamodb::Client::new(config),
            sns: aws_sdk_sns::Client::new(config),
            sesv2: aws_sdk_sesv2::Client::new(config),
            ssm: aws_sdk_ssm::Client::new(config),
            secrets_manager: aws_sdk_secretsmanager::Client::new(config),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(vars: &[(&str, &str)]) -> AwsSettings {
        AwsSettings::from_lookup(|name| {
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| (*v).to_owned())
        })
    }

    #[test]
    fn path_style_follows_endpoint_overrides() {
        assert!(!settings(&[]).s3_path_style());
        assert!(!settings(&[("AWS_ENDPOINT_URL", " ")]).s3_path_style());
        assert!(settings(&[("AWS_ENDPOINT_URL", "http://127.0.0.1:4566")]).s3_path_style());
        assert!(settings(&[("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:4566")]).s3_path_style());
    }
}
