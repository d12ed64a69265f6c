//! The AWS configuration of one environment, for the commands that call AWS (`deploy`,
//! `rollback`, `upload`): for `local` the emulator of this checkout with its test credentials, so
//! that no variable has to be exported; for the others the SDK's default chain (environment,
//! profile, instance role). Either way the clients go to the environment's region. A preview made
//! with `preview up --from local` lives on the emulator too: the checkout's emulator state records
//! it (`previews/<env>`), so that `upload --env preview-pr-N` finds it there.

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
    let platform = if is_local_preview(environment) {
        EnvironmentName::Local
    } else {
        environment
    };
    let region = load_environment(platform, &load_templates()?)
        .with_context(|| format!("cannot read the parameters of {platform}"))?
        .region;
    if platform != EnvironmentName::Local {
        return Ok((sdk_config_in(&region).await, AwsSettings::from_env()));
    }
    let endpoint = LocalStack::discover()
        .context("cannot tell where the local state of this checkout lives")?
        .ministack
        .endpoint_url()
        .context("the local environment needs the AWS emulator of this checkout")?;
    Ok(emulator_config(&endpoint, &region, ACCESS_KEY_ID, SECRET_ACCESS_KEY).await)
}

/// Where the checkout's emulator state records the previews made on it.
fn local_previews_dir() -> anyhow::Result<std::path::PathBuf> {
    Ok(LocalStack::discover()
        .context("cannot tell where the local state of this checkout lives")?
        .ministack
        .state_dir()
        .join("previews"))
}

/// Whether `environment` is a preview made on this checkout's emulator.
pub(crate) fn is_local_preview(environment: EnvironmentName) -> bool {
    environment.pull_request().is_some()
        && local_previews_dir().is_ok_and(|dir| dir.join(environment.to_string()).is_file())
}

/// Records (`true`) or forgets (`false`) that `environment` is a preview on this checkout's emulator.
pub(crate) fn set_local_preview(environment: EnvironmentName, present: bool) -> anyhow::Result<()> {
    let dir = local_previews_dir()?;
    let path = dir.join(environment.to_string());
    if present {
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        std::fs::write(&path, "local\n")
            .with_context(|| format!("cannot write {}", path.display()))?;
    } else if path.exists() {
        std::fs::remove_file(&path).with_context(|| format!("cannot remove {}", path.display()))?;
    }
    Ok(())
}
