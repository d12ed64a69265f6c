//! The AWS configuration of one environment, for the commands that call AWS (`deploy`,
//! `rollback`, `upload`): for `local` the emulator of this checkout with its test credentials, so
//! that no variable has to be exported; for the others the SDK's default chain (environment,
//! profile, instance role). Either way the clients go to the environment's region.

use anyhow::Context as _;
use aws_config::SdkConfig;
use userlog_aws::config::{AwsSettings, emulator_config, sdk_config_in};
use userlog_infra::EnvironmentName;
use userlog_infra::render::load_environment;
use userlog_local::LocalStack;
use userlog_local::ministack::files::{ACCESS_KEY_ID, SECRET_ACCESS_KEY};

use crate::render::load_templates;

/// The SDK configuration and the endpoint settings for `environment`. For `local` the emulator
/// must run (`cargo xtask local up`); its endpoint is read from the checkout's local state, as
/// `cargo xtask local env` does.
pub(crate) async fn sdk_for(
    environment: EnvironmentName,
) -> anyhow::Result<(SdkConfig, AwsSettings)> {
    let region = load_environment(environment, &load_templates()?)
        .with_context(|| format!("cannot read the parameters of {environment}"))?
        .region;
    if environment != EnvironmentName::Local {
        return Ok((sdk_config_in(&region).await, AwsSettings::from_env()));
    }
    let endpoint = LocalStack::discover()
        .context("cannot tell where the local state of this checkout lives")?
        .ministack
        .endpoint_url()
        .context("the local environment needs the AWS emulator of this checkout")?;
    Ok(emulator_config(&endpoint, &region, ACCESS_KEY_ID, SECRET_ACCESS_KEY).await)
}
