//! `cargo xtask build`: builds every function for Lambda (`provided.al2023`) and packages each as a
//! reproducible zip, and builds the dashboard's site.

use std::ffi::OsString;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context as _;
use userlog_build::artifact::{self, PreparedArtifact};
use userlog_build::manifest::{Manifest, human_bytes};
use userlog_build::package::SHORT_HASH_LEN;
use userlog_build::workspace::{self, Workspace};
use userlog_build::{AL2023_GLIBC, BuildError, FunctionArtifact};

use crate::cli::BuildArgs;

/// What `cargo xtask build` did.
pub(crate) struct BuildReport {
    /// The zips written, as in `manifest.json`.
    pub(crate) manifest: Manifest,
    /// Where the zips and the manifest are.
    pub(crate) out_dir: std::path::PathBuf,
    /// The functions that did not compile.
    pub(crate) not_compiled: Vec<String>,
    /// The functions that compiled but cannot run on the Lambda runtime, with the reason.
    pub(crate) rejected: Vec<(String, BuildError)>,
    /// The container images written (OCI image layouts under `<out>/images/<name>`).
    pub(crate) images: Vec<BuiltImage>,
}

/// One container image the build wrote.
pub(crate) struct BuiltImage {
    pub(crate) name: String,
    pub(crate) dir: std::path::PathBuf,
    /// The manifest's digest (`sha256:...`).
    pub(crate) digest: String,
}

/// Where the build writes the OCI image layout of `function` in `out_dir`.
pub(crate) fn image_dir(out_dir: &Path, function: &str) -> std::path::PathBuf {
    out_dir.join("images").join(function)
}

/// The tag an image is pushed under: the first hex digits of its digest (tags are immutable in
/// the image repositories; the task definition names the image by this tag).
pub(crate) fn image_tag(digest: &str) -> String {
    digest
        .trim_start_matches("sha256:")
        .chars()
        .take(SHORT_HASH_LEN)
        .collect()
}

/// Writes the container image of a function whose package asks for one.
fn write_image(function: &str, executable: &Path, out_dir: &Path) -> anyhow::Result<BuiltImage> {
    let bytes = std::fs::read(executable)
        .with_context(|| format!("cannot read {}", executable.display()))?;
    let labels = [
        ("org.opencontainers.image.title", function.to_owned()),
        (
            "org.opencontainers.image.source",
            env!("CARGO_PKG_REPOSITORY").to_owned(),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let image = userlog_image::layout::build(&userlog_image::ImageSpec {
        name: function.to_owned(),
        executable: bytes,
        labels,
    })?;
    let dir = image_dir(out_dir, function);
    userlog_image::layout::write(&dir, &image, &image_tag(image.digest()))
        .with_context(|| format!("cannot write the image of {function}"))?;
    Ok(BuiltImage {
        name: function.to_owned(),
        dir,
        digest: image.digest().to_owned(),
    })
}

impl BuildReport {
    pub(crate) fn is_success(&self) -> bool {
        self.not_compiled.is_empty() && self.rejected.is_empty()
    }
}

pub(crate) fn run(args: &BuildArgs) -> anyhow::Result<ExitCode> {
    let report = build(args)?;
    // The whole build also builds the dashboard's site (one function asked for: not), into
    // `dashboard/` next to the zips when they go to --out.
    let dashboard = args.functions.is_empty().then(|| match &args.out {
        Some(out) => crate::dashboard::build_site_into(&out.join("dashboard")),
        None => crate::dashboard::build_site(),
    });
    if args.json {
        print!("{}", report.manifest.to_json());
    } else {
        print!("{}", report.manifest.to_table());
        println!(
            "{} and {} in {}",
            plural(report.manifest.functions.len(), "zip"),
            userlog_build::manifest::MANIFEST_NAME,
            report.out_dir.display()
        );
        for image in &report.images {
            println!(
                "image {}: {} (OCI image layout in {})",
                image.name,
                image.digest,
                image.dir.display()
            );
        }
    }
    match &dashboard {
        Some(Ok(built)) => crate::dashboard::print_built(built),
        Some(Err(err)) => eprintln!("error: {err:#}"),
        None => {}
    }
    let dashboard_ok = !matches!(dashboard, Some(Err(_)));
    if report.is_success() && dashboard_ok {
        return Ok(ExitCode::SUCCESS);
    }
    if !report.not_compiled.is_empty() {
        eprintln!(
            "error: {} did not compile (cargo's messages above say why); build one at a time with `cargo xtask build --function NAME`",
            report.not_compiled.join(", ")
        );
    }
    for (function, err) in &report.rejected {
        eprintln!("error: {function} was not packaged: {err}");
        if matches!(err, BuildError::GlibcTooNew { .. }) {
            eprintln!(
                "  the executable was linked against this machine's newer glibc; find the crate that calls the symbol \
                 (`cargo tree -p {function} -i <crate>`) and avoid it, or link against glibc {AL2023_GLIBC} \
                 (`cargo zigbuild --release --target x86_64-unknown-linux-gnu.{AL2023_GLIBC}`)"
            );
        }
    }
    Ok(ExitCode::FAILURE)
}

/// Builds the selected functions with one cargo run, then checks, zips and describes each one.
pub(crate) fn build(args: &BuildArgs) -> anyhow::Result<BuildReport> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"));
    let manifest_path = crate::workspace_root().join("Cargo.toml");
    let workspace =
        Workspace::load(&cargo, &manifest_path).context("cannot list the workspace's functions")?;
    let functions = workspace.select(&args.functions)?;
    let out_dir = args
        .out
        .clone()
        .unwrap_or_else(|| workspace.default_out_dir());
    let names: Vec<&str> = functions
        .iter()
        .map(|function| function.name.as_str())
        .collect();
    if !args.json {
        eprintln!(
            "building {} for Lambda provided.al2023 (x86_64, glibc {AL2023_GLIBC}): {}",
            plural(names.len(), "function"),
            names.join(", ")
        );
    }

    let outcome = workspace::build(&cargo, &manifest_path, &functions)
        .context("cannot build the functions")?;
    if !outcome.status.success() && outcome.failed.is_empty() {
        anyhow::bail!(
            "`{}` failed ({}) although every function compiled; see cargo's messages above",
            outcome.command,
            outcome.status
        );
    }
    let mut artifacts = Vec::new();
    let mut rejected = Vec::new();
    let mut images = Vec::new();
    for function in &functions {
        let Some(executable) = outcome.executables.get(&function.name) else {
            continue;
        };
        match package(&function.name, executable, &out_dir) {
            Ok(prepared) => {
                if !args.json {
                    eprintln!("{}", describe(&prepared.artifact));
                }
                artifacts.push(prepared.artifact);
                if function.container_image {
                    let image = write_image(&function.name, executable, &out_dir)?;
                    if !args.json {
                        eprintln!(
                            "image {}: OCI image layout in {}, {}",
                            image.name,
                            image.dir.display(),
                            image.digest
                        );
                    }
                    images.push(image);
                }
            }
            Err(
                err @ (BuildError::GlibcTooNew { .. } | BuildError::NotElf | BuildError::Elf(_)),
            ) => {
                rejected.push((function.name.clone(), err));
            }
            Err(err) => {
                return Err(err).with_context(|| format!("cannot package {}", function.name));
            }
        }
    }
    let manifest = Manifest::new(artifacts);
    artifact::write_manifest(&out_dir, &manifest).context("cannot write the build manifest")?;
    Ok(BuildReport {
        manifest,
        out_dir,
        not_compiled: outcome.failed,
        rejected,
        images,
    })
}

/// Checks and zips one function's executable and writes the zip into `out_dir`.
fn package(
    function: &str,
    executable: &Path,
    out_dir: &Path,
) -> Result<PreparedArtifact, BuildError> {
    let prepared = artifact::prepare_file(function, executable, AL2023_GLIBC)?;
    artifact::write(out_dir, &prepared)?;
    Ok(prepared)
}

/// One progress line for a packaged function.
fn describe(artifact: &FunctionArtifact) -> String {
    let glibc = artifact
        .max_glibc
        .map_or_else(|| "none".to_owned(), |version| version.to_string());
    format!(
        "packaged {}: {} zip from {} binary, needs glibc {glibc}, sha256 {}",
        artifact.name,
        human_bytes(artifact.bytes),
        human_bytes(artifact.binary_bytes),
        &artifact.sha256[..SHORT_HASH_LEN.min(artifact.sha256.len())]
    )
}

/// `1 zip`, `4 zips`.
fn plural(count: usize, noun: &str) -> String {
    if count == 1 {
        format!("1 {noun}")
    } else {
        format!("{count} {noun}s")
    }
}
