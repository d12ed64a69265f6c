//! The image as an OCI image layout: build it from the binary, write it to a directory
//! (`oci-layout`, `index.json`, `blobs/sha256/...`), read one back, unpack its files.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::tar::{self, Entry};
use crate::{ImageError, digest};

/// The media types this crate writes.
pub const MANIFEST_MEDIA_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
pub const INDEX_MEDIA_TYPE: &str = "application/vnd.oci.image.index.v1+json";
pub const CONFIG_MEDIA_TYPE: &str = "application/vnd.oci.image.config.v1+json";
pub const LAYER_MEDIA_TYPE: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

/// The numeric user and group the task runs as (no root in the image).
pub const USER_ID: u32 = 65532;

/// Where the CA certificates are, for the binary's TLS (`SSL_CERT_FILE` points there too).
pub const CA_BUNDLE: &str = "etc/ssl/certs/ca-certificates.crt";

/// What goes into the image.
#[derive(Debug, Clone)]
pub struct ImageSpec {
    /// The program's name; it is installed as `/usr/local/bin/<name>` and is the entrypoint.
    pub name: String,
    /// The executable (statically linked: the image holds nothing else it could load).
    pub executable: Vec<u8>,
    /// Labels of the image config (`org.opencontainers.image.source`, ...).
    pub labels: BTreeMap<String, String>,
}

/// A content descriptor (OCI image spec).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    pub media_type: String,
    pub digest: String,
    pub size: u64,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

impl Descriptor {
    fn of(media_type: &str, bytes: &[u8]) -> Descriptor {
        Descriptor {
            media_type: media_type.to_owned(),
            digest: digest(bytes),
            size: bytes.len() as u64,
            annotations: BTreeMap::new(),
        }
    }
}

/// A built image: its blobs by digest, and the descriptor of its manifest.
#[derive(Debug, Clone)]
pub struct Image {
    pub manifest: Descriptor,
    pub blobs: BTreeMap<String, Vec<u8>>,
}

impl Image {
    /// The manifest's digest, which names the image (`repo@sha256:...`).
    pub fn digest(&self) -> &str {
        &self.manifest.digest
    }
}

/// The files of the image's one layer, in archive order.
fn layer_entries(spec: &ImageSpec) -> Vec<Entry> {
    let user = |mut entry: Entry| {
        entry.uid = USER_ID;
        entry.gid = USER_ID;
        entry
    };
    vec![
        Entry::dir("etc", 0o755),
        Entry::file(
            "etc/group",
            0o644,
            format!("root:x:0:\nnonroot:x:{USER_ID}:\n").into_bytes(),
        ),
        Entry::file(
            "etc/passwd",
            0o644,
            format!(
                "root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:{USER_ID}:{USER_ID}:nonroot:/home/nonroot:/sbin/nologin\n"
            )
            .into_bytes(),
        ),
        Entry::dir("etc/ssl", 0o755),
        Entry::dir("etc/ssl/certs", 0o755),
        Entry::file(CA_BUNDLE, 0o644, ca_bundle()),
        Entry::dir("home", 0o755),
        user(Entry::dir("home/nonroot", 0o700)),
        Entry::dir("tmp", 0o1777),
        Entry::dir("usr", 0o755),
        Entry::dir("usr/local", 0o755),
        Entry::dir("usr/local/bin", 0o755),
        Entry::file(
            &format!("usr/local/bin/{}", spec.name),
            0o755,
            spec.executable.clone(),
        ),
    ]
}

/// Mozilla's root certificates (as the `webpki-root-certs` crate carries them) as one PEM file.
pub fn ca_bundle() -> Vec<u8> {
    use base64::Engine as _;
    let mut pem = String::new();
    for cert in webpki_root_certs::TLS_SERVER_ROOT_CERTS {
        let encoded = base64::engine::general_purpose::STANDARD.encode(cert.as_ref());
        pem.push_str("-----BEGIN CERTIFICATE-----\n");
        for line in encoded.as_bytes().chunks(64) {
            pem.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
            pem.push('\n');
        }
        pem.push_str("-----END CERTIFICATE-----\n");
    }
    pem.into_bytes()
}

/// gzip with a fixed header (no name, no time), so the same archive compresses to the same bytes.
fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::GzBuilder::new()
        .mtime(0)
        .write(Vec::new(), flate2::Compression::best());
    encoder.write_all(bytes).expect("writing to memory");
    encoder.finish().expect("writing to memory")
}

/// Builds the image of `spec`: a pure function of its input.
pub fn build(spec: &ImageSpec) -> Result<Image, ImageError> {
    let archive = tar::write(&layer_entries(spec))?;
    let layer = gzip(&archive);
    let entrypoint = format!("/usr/local/bin/{}", spec.name);
    let config = json!({
        "architecture": "amd64",
        "os": "linux",
        "config": {
            "User": format!("{USER_ID}:{USER_ID}"),
            "Entrypoint": [entrypoint],
            "Env": [
                "PATH=/usr/local/bin",
                format!("SSL_CERT_FILE=/{CA_BUNDLE}"),
            ],
            "WorkingDir": "/home/nonroot",
            "Labels": spec.labels,
        },
        "rootfs": {"type": "layers", "diff_ids": [digest(&archive)]},
        "history": [{"created_by": format!("userlog-image: {} and CA certificates", spec.name)}],
    });
    let config = serde_json::to_vec(&config).expect("JSON serialises");
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": MANIFEST_MEDIA_TYPE,
        "config": Descriptor::of(CONFIG_MEDIA_TYPE, &config),
        "layers": [Descriptor::of(LAYER_MEDIA_TYPE, &layer)],
    });
    let manifest = serde_json::to_vec(&manifest).expect("JSON serialises");
    let descriptor = Descriptor::of(MANIFEST_MEDIA_TYPE, &manifest);
    let blobs = [config, layer, manifest]
        .into_iter()
        .map(|blob| (digest(&blob), blob))
        .collect();
    Ok(Image {
        manifest: descriptor,
        blobs,
    })
}

/// Writes `image` as an OCI image layout in `dir` (replacing one that is there), its manifest
/// tagged `tag` (`org.opencontainers.image.ref.name`).
pub fn write(dir: &Path, image: &Image, tag: &str) -> Result<(), ImageError> {
    if dir.exists() {
        std::fs::remove_dir_all(dir).map_err(|e| ImageError::io(dir, e))?;
    }
    let blobs = dir.join("blobs").join("sha256");
    std::fs::create_dir_all(&blobs).map_err(|e| ImageError::io(&blobs, e))?;
    for (digest, bytes) in &image.blobs {
        let path = blobs.join(digest.trim_start_matches("sha256:"));
        std::fs::write(&path, bytes).map_err(|e| ImageError::io(&path, e))?;
    }
    let mut manifest = image.manifest.clone();
    manifest.annotations.insert(
        "org.opencontainers.image.ref.name".to_owned(),
        tag.to_owned(),
    );
    let index = json!({
        "schemaVersion": 2,
        "mediaType": INDEX_MEDIA_TYPE,
        "manifests": [manifest],
    });
    let files = [
        ("oci-layout", json!({"imageLayoutVersion": "1.0.0"})),
        ("index.json", index),
    ];
    for (name, value) in files {
        let path = dir.join(name);
        let text = serde_json::to_vec(&value).expect("JSON serialises");
        std::fs::write(&path, text).map_err(|e| ImageError::io(&path, e))?;
    }
    Ok(())
}

/// An image layout read back from a directory, its blobs checked against their digests.
#[derive(Debug, Clone)]
pub struct Layout {
    pub dir: PathBuf,
    /// The tag of the index's manifest.
    pub tag: Option<String>,
    pub image: Image,
    /// The manifest's config and layers.
    pub config: Descriptor,
    pub layers: Vec<Descriptor>,
}

#[derive(Deserialize)]
struct IndexFile {
    manifests: Vec<Descriptor>,
}

#[derive(Deserialize)]
struct ManifestFile {
    config: Descriptor,
    layers: Vec<Descriptor>,
}

/// What a container started from the image runs.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RunConfig {
    #[serde(default)]
    pub entrypoint: Vec<String>,
    #[serde(default)]
    pub env: Vec<String>,
    #[serde(default)]
    pub user: String,
    #[serde(default)]
    pub working_dir: String,
}

/// The image's entrypoint as a program under the directory it was unpacked to (no chroot): its
/// path, and its variables with the paths in them moved under `root` (`PATH`'s directories,
/// values that are absolute paths).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rooted {
    pub program: PathBuf,
    pub args: Vec<String>,
    pub environment: BTreeMap<String, String>,
}

impl RunConfig {
    /// How the entrypoint runs from `root`, or `None` when the image has no entrypoint.
    pub fn rooted(&self, root: &Path) -> Option<Rooted> {
        let (program, args) = self.entrypoint.split_first()?;
        let under = |path: &str| {
            root.join(path.trim_start_matches('/'))
                .display()
                .to_string()
        };
        let environment = self
            .env
            .iter()
            .filter_map(|pair| pair.split_once('='))
            .map(|(name, value)| {
                let value = if name == "PATH" {
                    value.split(':').map(under).collect::<Vec<_>>().join(":")
                } else if value.starts_with('/') {
                    under(value)
                } else {
                    value.to_owned()
                };
                (name.to_owned(), value)
            })
            .collect();
        Some(Rooted {
            program: root.join(program.trim_start_matches('/')),
            args: args.to_vec(),
            environment,
        })
    }
}

impl Layout {
    /// Reads the layout in `dir` (one manifest in its index).
    pub fn read(dir: &Path) -> Result<Layout, ImageError> {
        let bad = |detail: String| ImageError::BadLayout {
            path: dir.display().to_string(),
            detail,
        };
        let oci_layout = std::fs::read(dir.join("oci-layout"))
            .map_err(|e| ImageError::io(&dir.join("oci-layout"), e))?;
        let version: serde_json::Value =
            serde_json::from_slice(&oci_layout).map_err(|e| bad(format!("oci-layout: {e}")))?;
        if version["imageLayoutVersion"] != "1.0.0" {
            return Err(bad(format!(
                "imageLayoutVersion is {}",
                version["imageLayoutVersion"]
            )));
        }
        let index = std::fs::read(dir.join("index.json"))
            .map_err(|e| ImageError::io(&dir.join("index.json"), e))?;
        let index: IndexFile =
            serde_json::from_slice(&index).map_err(|e| bad(format!("index.json: {e}")))?;
        let [manifest] = <[Descriptor; 1]>::try_from(index.manifests)
            .map_err(|all| bad(format!("index.json lists {} manifests, not one", all.len())))?;
        let blob = |descriptor: &Descriptor| -> Result<(String, Vec<u8>), ImageError> {
            let hex = descriptor
                .digest
                .strip_prefix("sha256:")
                .filter(|hex| hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
                .ok_or_else(|| bad(format!("`{}` is not a sha256 digest", descriptor.digest)))?;
            let path = dir.join("blobs").join("sha256").join(hex);
            let bytes = std::fs::read(&path).map_err(|e| ImageError::io(&path, e))?;
            let actual = digest(&bytes);
            if actual != descriptor.digest || bytes.len() as u64 != descriptor.size {
                return Err(ImageError::DigestMismatch {
                    digest: descriptor.digest.clone(),
                    actual,
                });
            }
            Ok((descriptor.digest.clone(), bytes))
        };
        let (manifest_digest, manifest_bytes) = blob(&manifest)?;
        let parsed: ManifestFile = serde_json::from_slice(&manifest_bytes)
            .map_err(|e| bad(format!("the manifest: {e}")))?;
        let mut blobs = BTreeMap::from([(manifest_digest, manifest_bytes)]);
        for descriptor in std::iter::once(&parsed.config).chain(&parsed.layers) {
            let (digest, bytes) = blob(descriptor)?;
            blobs.insert(digest, bytes);
        }
        let tag = manifest
            .annotations
            .get("org.opencontainers.image.ref.name")
            .cloned();
        let mut descriptor = manifest;
        descriptor.annotations.clear();
        Ok(Layout {
            dir: dir.to_path_buf(),
            tag,
            image: Image {
                manifest: descriptor,
                blobs,
            },
            config: parsed.config,
            layers: parsed.layers,
        })
    }

    /// What a container of the image runs.
    pub fn run_config(&self) -> Result<RunConfig, ImageError> {
        #[derive(Deserialize)]
        struct ConfigFile {
            config: RunConfig,
        }
        let bytes = &self.image.blobs[&self.config.digest];
        let parsed: ConfigFile =
            serde_json::from_slice(bytes).map_err(|e| ImageError::BadLayout {
                path: self.dir.display().to_string(),
                detail: format!("the config: {e}"),
            })?;
        Ok(parsed.config)
    }

    /// The files of every layer, unpacked into `root` (created when missing), modes kept.
    pub fn unpack(&self, root: &Path) -> Result<(), ImageError> {
        use std::os::unix::fs::PermissionsExt as _;
        for layer in &self.layers {
            let compressed = &self.image.blobs[&layer.digest];
            let mut archive = Vec::new();
            std::io::Read::read_to_end(
                &mut flate2::read::GzDecoder::new(compressed.as_slice()),
                &mut archive,
            )
            .map_err(|e| ImageError::io(&self.dir, e))?;
            let entries = tar::read(&archive).map_err(|detail| ImageError::BadLayout {
                path: self.dir.display().to_string(),
                detail,
            })?;
            for entry in entries {
                let relative = Path::new(entry.path.trim_end_matches('/'));
                if relative.is_absolute()
                    || relative
                        .components()
                        .any(|c| !matches!(c, std::path::Component::Normal(_)))
                {
                    return Err(ImageError::BadLayout {
                        path: self.dir.display().to_string(),
                        detail: format!("the layer names `{}`, outside the image", entry.path),
                    });
                }
                let path = root.join(relative);
                match &entry.contents {
                    None => std::fs::create_dir_all(&path).map_err(|e| ImageError::io(&path, e))?,
                    Some(bytes) => {
                        if let Some(parent) = path.parent() {
                            std::fs::create_dir_all(parent)
                                .map_err(|e| ImageError::io(parent, e))?;
                        }
                        std::fs::write(&path, bytes).map_err(|e| ImageError::io(&path, e))?;
                    }
                }
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(entry.mode))
                    .map_err(|e| ImageError::io(&path, e))?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(executable: &[u8]) -> ImageSpec {
        ImageSpec {
            name: "import-csv".to_owned(),
            executable: executable.to_vec(),
            labels: BTreeMap::new(),
        }
    }

    #[test]
    fn the_same_binary_gives_the_same_digest_and_another_binary_another() {
        let a = build(&spec(b"\x7fELF one")).unwrap();
        let again = build(&spec(b"\x7fELF one")).unwrap();
        let b = build(&spec(b"\x7fELF two")).unwrap();
        assert_eq!(a.digest(), again.digest());
        assert_ne!(a.digest(), b.digest());
        assert_eq!(a.blobs.len(), 3, "config, layer, manifest");
    }

    #[test]
    fn a_written_layout_reads_back_and_unpacks_to_the_binary() {
        let dir = std::env::temp_dir().join(format!("userlog-image-{}", std::process::id()));
        let image = build(&spec(b"#!/bin/sh\necho hi\n")).unwrap();
        write(&dir.join("layout"), &image, "abc123").unwrap();
        let layout = Layout::read(&dir.join("layout")).unwrap();
        assert_eq!(layout.image.digest(), image.digest());
        assert_eq!(layout.tag.as_deref(), Some("abc123"));
        let run = layout.run_config().unwrap();
        assert_eq!(run.entrypoint, ["/usr/local/bin/import-csv"]);
        assert_eq!(run.user, "65532:65532");
        let rooted = run.rooted(Path::new("/unpacked")).unwrap();
        assert_eq!(
            rooted.program,
            Path::new("/unpacked/usr/local/bin/import-csv")
        );
        assert_eq!(rooted.environment["PATH"], "/unpacked/usr/local/bin");
        assert_eq!(
            rooted.environment["SSL_CERT_FILE"],
            "/unpacked/etc/ssl/certs/ca-certificates.crt"
        );
        layout.unpack(&dir.join("root")).unwrap();
        let binary = dir.join("root/usr/local/bin/import-csv");
        assert_eq!(std::fs::read(&binary).unwrap(), b"#!/bin/sh\necho hi\n");
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(
            std::fs::metadata(&binary).unwrap().permissions().mode() & 0o777,
            0o755
        );
        let bundle = std::fs::read_to_string(dir.join("root").join(CA_BUNDLE)).unwrap();
        assert!(
            bundle.matches("BEGIN CERTIFICATE").count() > 100,
            "Mozilla's roots"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_blob_that_was_changed_is_refused() {
        let dir = std::env::temp_dir().join(format!("userlog-image-bad-{}", std::process::id()));
        let image = build(&spec(b"binary")).unwrap();
        write(&dir, &image, "t").unwrap();
        let layer = Layout::read(&dir).unwrap().layers[0].digest.clone();
        std::fs::write(
            dir.join("blobs/sha256")
                .join(layer.trim_start_matches("sha256:")),
            b"something else",
        )
        .unwrap();
        assert!(matches!(
            Layout::read(&dir),
            Err(ImageError::DigestMismatch { .. })
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
