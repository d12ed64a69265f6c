//! One function's artifact: check the executable, zip it, hash it, and write it beside the manifest.
//!
//! [`prepare`] is a pure function of the executable's bytes; [`write`] and [`write_manifest`] put
//! the results into the output directory, each file atomically (written aside, then renamed).

use std::fs;
use std::path::{Path, PathBuf};

use crate::error::BuildError;
use crate::glibc::{self, GlibcVersion};
use crate::manifest::{FunctionArtifact, MANIFEST_NAME, Manifest};
use crate::package;

/// A function's zip, ready to be written, with its manifest entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreparedArtifact {
    /// The manifest entry describing the zip.
    pub artifact: FunctionArtifact,
    /// The zip's bytes.
    pub zip: Vec<u8>,
}

/// Checks `executable` against the glibc `limit`, zips it as `bootstrap` and describes the zip.
///
/// Fails with [`BuildError::GlibcTooNew`], naming the versions and symbols, when the executable
/// needs a glibc newer than `limit`.
pub fn prepare(
    function: &str,
    executable: &[u8],
    limit: GlibcVersion,
) -> Result<PreparedArtifact, BuildError> {
    let needs = glibc::version_needs(executable)?;
    let report = glibc::check(&needs, limit);
    if !report.is_compatible() {
        return Err(BuildError::GlibcTooNew {
            function: function.to_owned(),
            limit,
            offenders: report.describe_too_new(),
        });
    }
    let zip = package::zip_bootstrap(executable)?;
    let sha256 = package::sha256_hex(&zip);
    let artifact = FunctionArtifact {
        name: function.to_owned(),
        zip: package::zip_name(function),
        hashed_zip: package::hashed_zip_name(function, &sha256),
        s3_key: package::s3_key(function, &sha256),
        sha256,
        bytes: zip.len() as u64,
        binary_bytes: executable.len() as u64,
        max_glibc: report.highest,
    };
    Ok(PreparedArtifact { artifact, zip })
}

/// Reads the executable at `path` and [`prepare`]s it.
pub fn prepare_file(
    function: &str,
    path: &Path,
    limit: GlibcVersion,
) -> Result<PreparedArtifact, BuildError> {
    let executable = fs::read(path).map_err(BuildError::io("read", path))?;
    prepare(function, &executable, limit)
}

/// Writes the zip into `out_dir` under its plain and its content-hashed name, and removes the
/// function's content-hashed zips of earlier builds. Returns the path of the plain zip.
pub fn write(out_dir: &Path, prepared: &PreparedArtifact) -> Result<PathBuf, BuildError> {
    fs::create_dir_all(out_dir).map_err(BuildError::io("create", out_dir))?;
    let artifact = &prepared.artifact;
    let plain = out_dir.join(&artifact.zip);
    write_atomically(&plain, &prepared.zip)?;
    write_atomically(&out_dir.join(&artifact.hashed_zip), &prepared.zip)?;
    for entry in fs::read_dir(out_dir).map_err(BuildError::io("list", out_dir))? {
        let entry = entry.map_err(BuildError::io("list", out_dir))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if name != artifact.hashed_zip && package::is_hashed_zip_of(&artifact.name, name) {
            fs::remove_file(entry.path()).map_err(BuildError::io("remove", entry.path()))?;
        }
    }
    Ok(plain)
}

/// Writes `manifest.json` into `out_dir` and returns its path.
pub fn write_manifest(out_dir: &Path, manifest: &Manifest) -> Result<PathBuf, BuildError> {
    fs::create_dir_all(out_dir).map_err(BuildError::io("create", out_dir))?;
    let path = out_dir.join(MANIFEST_NAME);
    write_atomically(&path, manifest.to_json().as_bytes())?;
    Ok(path)
}

/// Reads the `manifest.json` of an earlier build in `dir` and checks that every zip it lists is
/// there with the content it describes, so that a deploy of those artifacts deploys what was built.
pub fn read_built(dir: &Path) -> Result<Manifest, BuildError> {
    let path = dir.join(MANIFEST_NAME);
    let text = fs::read_to_string(&path).map_err(BuildError::io("read", &path))?;
    let manifest = Manifest::from_json(&text)?;
    for artifact in &manifest.functions {
        let zip = dir.join(&artifact.zip);
        let bytes = fs::read(&zip).map_err(BuildError::io("read", &zip))?;
        let found = package::sha256_hex(&bytes);
        if found != artifact.sha256 {
            return Err(BuildError::ArtifactChanged {
                zip,
                expected: artifact.sha256.clone(),
                found,
            });
        }
    }
    Ok(manifest)
}

/// Writes `bytes` to `path` so that readers see either the old file or the whole new one.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), BuildError> {
    let mut partial = path.as_os_str().to_owned();
    partial.push(".partial");
    let partial = PathBuf::from(partial);
    fs::write(&partial, bytes).map_err(BuildError::io("write", &partial))?;
    fs::rename(&partial, path).map_err(BuildError::io("write", path))
}
