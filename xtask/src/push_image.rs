//! `cargo xtask push-image --registry HOST[:PORT]/REPO[:TAG] [--insecure] [--image DIR] [--json]`:
//! pushes the import task's OCI image layout (what `cargo xtask build` writes) to a registry that
//! speaks the OCI distribution API, then reads the tag back to check the registry holds it.

use std::ffi::OsString;
use std::process::ExitCode;

use anyhow::Context as _;
use userlog_build::workspace::Workspace;
use userlog_image::{Layout, Reference, Registry};

use crate::cli::PushImageArgs;

pub(crate) fn run(args: &PushImageArgs) -> anyhow::Result<ExitCode> {
    let reference = Reference::parse(&args.registry)?;
    let dir = match &args.image {
        Some(dir) => dir.clone(),
        None => {
            let cargo = std::env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"));
            let workspace = Workspace::load(&cargo, &crate::workspace_root().join("Cargo.toml"))
                .context("cannot find the target directory")?;
            crate::build::image_dir(&workspace.default_out_dir(), "import-csv")
        }
    };
    let layout = Layout::read(&dir).with_context(|| {
        format!(
            "no image to push in {}; build it with `cargo xtask build`",
            dir.display()
        )
    })?;
    let tag = reference
        .tag
        .clone()
        .unwrap_or_else(|| crate::build::image_tag(layout.image.digest()));
    let registry = Registry::new(&reference.host, args.insecure);
    let pushed = crate::runtime()?.block_on(async {
        let pushed = registry.push(&layout, &reference.repository, &tag).await?;
        let held = registry
            .manifest_digest(&reference.repository, &tag)
            .await?;
        userlog_deploy::flow::check_held_image(held.as_deref(), layout.image.digest())
            .map_err(anyhow::Error::msg)?;
        anyhow::Ok(pushed)
    })?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&pushed)?);
    } else {
        println!(
            "pushed {} ({} blob(s) uploaded, {} already there)\npull it by digest: {}/{}@{}",
            pushed.reference,
            pushed.uploaded.len(),
            pushed.present.len(),
            reference.host,
            reference.repository,
            pushed.digest
        );
    }
    Ok(ExitCode::SUCCESS)
}
