//! What a directory deploys, as Pages' direct upload sees it: every regular file under it, keyed
//! by its path from the directory (`/assets/app.js`), each with the content hash the upload and
//! the manifest name it by and the content type it is served with; `_headers` and `_redirects`
//! at the top go with the deployment request instead. Pure apart from reading the directory.
//!
//! A file's hash is the first 32 hexadecimal digits of BLAKE3 over the file's content in base64
//! followed by its extension without the dot (`aGVsbG8gd29ybGQ=html` for `hello world` in
//! `index.html`), as Cloudflare's own uploader computes it: the same content under the same
//! extension is the same asset, so Cloudflare keeps it once and a later deploy skips it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::PagesError;

/// The largest file Pages serves.
pub const MAX_FILE_BYTES: u64 = 25 * 1024 * 1024;

/// The most files a deployment holds (the limit of Pages' free plan, the lowest).
pub const MAX_FILES: usize = 20_000;

/// The most file bytes one upload request carries (before base64), as Cloudflare's uploader cuts.
pub const MAX_BUCKET_BYTES: u64 = 40 * 1024 * 1024;

/// The most files one upload request carries.
pub const MAX_BUCKET_FILES: usize = 2_000;

/// The custom headers file: read by Pages, sent beside the manifest, not served.
pub const HEADERS_FILE: &str = "_headers";

/// The redirects file: read by Pages, sent beside the manifest, not served.
pub const REDIRECTS_FILE: &str = "_redirects";

/// Top-level names that make a Pages Functions project, which this crate does not deploy.
const FUNCTIONS_NAMES: &[&str] = &["_worker.js", "_routes.json", "functions"];

/// Names never deployed at any depth (what Cloudflare's uploader leaves out too).
const SKIPPED_ANYWHERE: &[&str] = &[".DS_Store", ".git", "node_modules"];

/// Top-level names never deployed (the uploader's own cache).
const SKIPPED_AT_TOP: &[&str] = &[".wrangler"];

/// One file to serve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiteFile {
    /// Its path from the directory, with `/` between components (`assets/app.js`).
    pub name: String,
    /// Where it is on disk.
    pub path: PathBuf,
    /// Its size in bytes.
    pub size: u64,
    /// Its content hash ([`hash_content`]).
    pub hash: String,
    /// The content type it is served with ([`content_type`]).
    pub content_type: &'static str,
}

/// A directory ready to deploy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Site {
    /// The directory.
    pub dir: PathBuf,
    /// Its files, by name.
    pub files: Vec<SiteFile>,
    /// The content of `_headers`, when there is one.
    pub headers: Option<Vec<u8>>,
    /// The content of `_redirects`, when there is one.
    pub redirects: Option<Vec<u8>>,
}

impl Site {
    /// Reads `dir`: every regular file under it, hashed. Fails on symbolic links, names that are
    /// not UTF-8, files over [`MAX_FILE_BYTES`], more than [`MAX_FILES`] files, no file at all,
    /// and Pages Functions (`_worker.js`, `_routes.json`, `functions/`).
    pub fn read(dir: &Path) -> Result<Site, PagesError> {
        let bad = |path: &Path, detail: String| PagesError::Site {
            path: path.to_owned(),
            detail,
        };
        let metadata = std::fs::metadata(dir)
            .map_err(|e| bad(dir, format!("cannot read the directory: {e}")))?;
        if !metadata.is_dir() {
            return Err(bad(dir, "not a directory".to_owned()));
        }
        let mut site = Site {
            dir: dir.to_owned(),
            files: Vec::new(),
            headers: None,
            redirects: None,
        };
        let mut pending = vec![(dir.to_owned(), String::new())];
        while let Some((folder, prefix)) = pending.pop() {
            let entries = std::fs::read_dir(&folder)
                .map_err(|e| bad(&folder, format!("cannot list the directory: {e}")))?;
            for entry in entries {
                let entry = entry.map_err(|e| bad(&folder, format!("cannot list: {e}")))?;
                let path = entry.path();
                let Some(file_name) = entry.file_name().to_str().map(str::to_owned) else {
                    return Err(bad(&path, "the name is not UTF-8".to_owned()));
                };
                let top = prefix.is_empty();
                if SKIPPED_ANYWHERE.contains(&file_name.as_str())
                    || (top && SKIPPED_AT_TOP.contains(&file_name.as_str()))
                {
                    continue;
                }
                if top && FUNCTIONS_NAMES.contains(&file_name.as_str()) {
                    return Err(bad(
                        &path,
                        "Pages Functions are not deployed by this client: the directory must hold static files only".to_owned(),
                    ));
                }
                let name = format!("{prefix}{file_name}");
                let kind = entry
                    .file_type()
                    .map_err(|e| bad(&path, format!("cannot read: {e}")))?;
                if kind.is_symlink() {
                    return Err(bad(
                        &path,
                        "a symbolic link: Pages serves regular files, so copy the target in"
                            .to_owned(),
                    ));
                }
                if kind.is_dir() {
                    pending.push((path, format!("{name}/")));
                    continue;
                }
                if !kind.is_file() {
                    return Err(bad(&path, "not a regular file".to_owned()));
                }
                let size = entry
                    .metadata()
                    .map_err(|e| bad(&path, format!("cannot read: {e}")))?
                    .len();
                if size > MAX_FILE_BYTES {
                    return Err(bad(
                        &path,
                        format!(
                            "{size} bytes: Pages serves files of up to {MAX_FILE_BYTES} bytes (25 MiB)"
                        ),
                    ));
                }
                let content =
                    std::fs::read(&path).map_err(|e| bad(&path, format!("cannot read: {e}")))?;
                if top && file_name == HEADERS_FILE {
                    site.headers = Some(content);
                    continue;
                }
                if top && file_name == REDIRECTS_FILE {
                    site.redirects = Some(content);
                    continue;
                }
                let extension = extension(&file_name);
                site.files.push(SiteFile {
                    hash: hash_content(&content, extension),
                    content_type: content_type(&file_name),
                    name,
                    path,
                    size,
                });
                if site.files.len() > MAX_FILES {
                    return Err(bad(
                        dir,
                        format!("more than {MAX_FILES} files: Pages deploys at most {MAX_FILES}"),
                    ));
                }
            }
        }
        if site.files.is_empty() {
            return Err(bad(dir, "no file to deploy".to_owned()));
        }
        site.files.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(site)
    }

    /// The deployment's manifest: each file's path from the root (`/index.html`) to its hash.
    pub fn manifest(&self) -> BTreeMap<String, String> {
        self.files
            .iter()
            .map(|file| (format!("/{}", file.name), file.hash.clone()))
            .collect()
    }

    /// Every distinct hash, sorted (files with the same content and extension share one).
    pub fn hashes(&self) -> Vec<String> {
        self.files
            .iter()
            .map(|file| file.hash.clone())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect()
    }

    /// One file of each hash in `wanted`, by name, each hash once.
    pub fn files_with(&self, wanted: &BTreeSet<String>) -> Vec<&SiteFile> {
        let mut seen = BTreeSet::new();
        self.files
            .iter()
            .filter(|file| wanted.contains(&file.hash) && seen.insert(file.hash.as_str()))
            .collect()
    }
}

/// A name's extension without the dot, as the hash takes it: `js` for `app.js`, `gz` for
/// `a.tar.gz`, nothing for `LICENSE` or `.env`.
pub fn extension(name: &str) -> &str {
    let base = name.rsplit('/').next().unwrap_or(name);
    Path::new(base)
        .extension()
        .and_then(|extension| extension.to_str())
        .unwrap_or("")
}

/// The asset hash of `content` in a file with `extension` (no dot): the first 32 hexadecimal
/// digits of BLAKE3 over the base64 of the content followed by the extension.
pub fn hash_content(content: &[u8], extension: &str) -> String {
    let mut hasher = blake3::Hasher::new();
    hasher.update(STANDARD.encode(content).as_bytes());
    hasher.update(extension.as_bytes());
    let hex = hasher.finalize().to_hex();
    hex.as_str()[..32].to_owned()
}

/// The content type Pages serves a file with, from its extension (any case);
/// `application/octet-stream` for one not listed.
pub fn content_type(name: &str) -> &'static str {
    match extension(name).to_ascii_lowercase().as_str() {
        "html" | "htm" => "text/html",
        "js" | "mjs" => "text/javascript",
        "css" => "text/css",
        "json" | "map" => "application/json",
        "webmanifest" => "application/manifest+json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "avif" => "image/avif",
        "ico" => "image/x-icon",
        "txt" => "text/plain",
        "xml" => "application/xml",
        "woff" => "font/woff",
        "woff2" => "font/woff2",
        "wasm" => "application/wasm",
        _ => "application/octet-stream",
    }
}

/// Cuts uploads into requests of at most `max_files` files and `max_bytes` bytes: largest file
/// first, each into the first request it fits in, a new request when none has room (a file
/// larger than `max_bytes` goes alone). Returns indexes into `sizes`, per request.
pub fn buckets(sizes: &[u64], max_bytes: u64, max_files: usize) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..sizes.len()).collect();
    order.sort_by(|&a, &b| sizes[b].cmp(&sizes[a]).then(a.cmp(&b)));
    let mut buckets: Vec<(Vec<usize>, u64)> = Vec::new();
    for index in order {
        let size = sizes[index];
        let room = buckets.iter_mut().find(|(files, used)| {
            files.len() < max_files.max(1) && used.saturating_add(size) <= max_bytes
        });
        match room {
            Some((files, used)) => {
                files.push(index);
                *used += size;
            }
            None => buckets.push((vec![index], size)),
        }
    }
    buckets.into_iter().map(|(files, _)| files).collect()
}

#[cfg(test)]
mod tests {
    use expect_test::{Expect, expect};

    use super::*;

    /// A directory under the system's temporary directory, removed when dropped.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(label: &str, files: &[(&str, &[u8])]) -> TempDir {
            let dir =
                std::env::temp_dir().join(format!("userlog-pages-{label}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            for (name, content) in files {
                let path = dir.join(name);
                std::fs::create_dir_all(path.parent().expect("a parent")).expect("a folder");
                std::fs::write(&path, content).expect("a file");
            }
            std::fs::create_dir_all(&dir).expect("the directory");
            TempDir(dir)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn check_hash(content: &[u8], name: &str, expected: Expect) {
        expected.assert_eq(&hash_content(content, extension(name)));
    }

    #[test]
    fn hashes_match_cloudflares_uploader() {
        // The values Cloudflare's uploader produces for these files (its published test vectors).
        check_hash(
            b"",
            "empty.txt",
            expect!["f9bc91770fa5e997cbd47fba833629fc"],
        );
        check_hash(
            b"hello world",
            "index.html",
            expect!["b21ba0581fdc5f20b592c79af3d230e2"],
        );
        check_hash(
            b"test file content",
            "assets/test.js",
            expect!["b41bdcbc16962c4e5d7e14d7c9103695"],
        );
    }

    #[test]
    fn the_extension_is_part_of_the_hash() {
        let js = hash_content(b"x", "js");
        assert_ne!(js, hash_content(b"x", "css"));
        assert_ne!(js, hash_content(b"x", ""));
        assert_eq!(js, hash_content(b"x", extension("other/name.js")));
        assert_eq!(js.len(), 32);
        assert!(
            js.bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        );
    }

    fn check_extension(names: &[&str], expected: Expect) {
        let actual: Vec<String> = names
            .iter()
            .map(|name| format!("{name} -> {:?} {}", extension(name), content_type(name)))
            .collect();
        expected.assert_eq(&actual.join("\n"));
    }

    #[test]
    fn content_types_come_from_the_extension() {
        check_extension(
            &[
                "index.html",
                "assets/index-3f2a.js",
                "assets/index-3f2a.css",
                "config.json",
                "logo.SVG",
                "icon.png",
                "favicon.ico",
                "robots.txt",
                "site.webmanifest",
                "a.tar.gz",
                "LICENSE",
                ".env",
                "dir.d/file",
            ],
            expect![[r#"
                index.html -> "html" text/html
                assets/index-3f2a.js -> "js" text/javascript
                assets/index-3f2a.css -> "css" text/css
                config.json -> "json" application/json
                logo.SVG -> "SVG" image/svg+xml
                icon.png -> "png" image/png
                favicon.ico -> "ico" image/x-icon
                robots.txt -> "txt" text/plain
                site.webmanifest -> "webmanifest" application/manifest+json
                a.tar.gz -> "gz" application/octet-stream
                LICENSE -> "" application/octet-stream
                .env -> "" application/octet-stream
                dir.d/file -> "" application/octet-stream"#]],
        );
    }

    fn check_site(label: &str, files: &[(&str, &[u8])], expected: Expect) {
        let dir = TempDir::new(label, files);
        let actual = match Site::read(&dir.0) {
            Ok(site) => {
                let mut text = String::new();
                for (path, hash) in site.manifest() {
                    let file = site
                        .files
                        .iter()
                        .find(|f| format!("/{}", f.name) == path)
                        .expect("the file");
                    text.push_str(&format!(
                        "{path} {hash} {} {}\n",
                        file.size, file.content_type
                    ));
                }
                text.push_str(&format!(
                    "{} distinct hashes; _headers: {:?}; _redirects: {:?}\n",
                    site.hashes().len(),
                    site.headers.as_deref().map(String::from_utf8_lossy),
                    site.redirects.as_deref().map(String::from_utf8_lossy),
                ));
                text
            }
            Err(error) => error
                .to_string()
                .replace(&dir.0.display().to_string(), "<dir>"),
        };
        expected.assert_eq(&actual);
    }

    #[test]
    fn the_manifest_names_every_served_file_by_its_path() {
        check_site(
            "manifest",
            &[
                ("index.html", b"<!doctype html>"),
                ("config.json", b"{}"),
                ("assets/app.js", b"console.log(1)"),
                ("assets/app.css", b"body{}"),
                ("assets/copy.js", b"console.log(1)"),
                ("assets/_headers", b"served, not read"),
                ("_headers", b"/*\n  X-Frame-Options: DENY\n"),
                ("_redirects", b"/old /new 301\n"),
                (".DS_Store", b"x"),
                ("assets/node_modules/x.js", b"x"),
                (".wrangler/cache.json", b"x"),
            ],
            expect![[r#"
                /assets/_headers 05757c32e0bc1f0ce8ab3924dc65dba1 16 application/octet-stream
                /assets/app.css 622e1fa69535c6ed5e3a85e2ccaafd15 6 text/css
                /assets/app.js 57368e4cf530bde37181ac2df88342ba 14 text/javascript
                /assets/copy.js 57368e4cf530bde37181ac2df88342ba 14 text/javascript
                /config.json ec47da64e7da6749028b38bc647d8a22 2 application/json
                /index.html 9a43f62b308ef20fc63d0b5eab6dbd1a 15 text/html
                5 distinct hashes; _headers: Some("/*\n  X-Frame-Options: DENY\n"); _redirects: Some("/old /new 301\n")
            "#]],
        );
    }

    #[test]
    fn what_pages_cannot_take_is_refused_before_any_call() {
        check_site(
            "empty",
            &[],
            expect!["cannot deploy <dir>: no file to deploy"],
        );
        check_site(
            "worker",
            &[("index.html", b"x"), ("_worker.js", b"export default {}")],
            expect![
                "cannot deploy <dir>/_worker.js: Pages Functions are not deployed by this client: the directory must hold static files only"
            ],
        );
        check_site(
            "functions",
            &[("index.html", b"x"), ("functions/api.js", b"x")],
            expect![
                "cannot deploy <dir>/functions: Pages Functions are not deployed by this client: the directory must hold static files only"
            ],
        );
        let missing = std::env::temp_dir().join("userlog-pages-no-such-directory");
        let error = Site::read(&missing).expect_err("missing");
        assert!(
            error.to_string().contains("cannot read the directory"),
            "{error}"
        );
    }

    #[test]
    fn symbolic_links_are_refused() {
        let dir = TempDir::new("symlink", &[("index.html", b"x")]);
        std::os::unix::fs::symlink(dir.0.join("index.html"), dir.0.join("link.html"))
            .expect("a link");
        let error = Site::read(&dir.0).expect_err("a link");
        assert!(error.to_string().contains("a symbolic link"), "{error}");
    }

    fn check_buckets(sizes: &[u64], max_bytes: u64, max_files: usize, expected: Expect) {
        let actual: Vec<String> = buckets(sizes, max_bytes, max_files)
            .iter()
            .map(|bucket| {
                let total: u64 = bucket.iter().map(|&i| sizes[i]).sum();
                format!("{bucket:?} = {total}")
            })
            .collect();
        expected.assert_eq(&actual.join("\n"));
    }

    #[test]
    fn uploads_are_cut_under_the_size_and_count_limits() {
        check_buckets(&[], 100, 10, expect![""]);
        check_buckets(&[10, 20, 30], 100, 10, expect!["[2, 1, 0] = 60"]);
        check_buckets(
            &[60, 50, 40, 30, 10],
            100,
            10,
            expect![[r#"
                [0, 2] = 100
                [1, 3, 4] = 90"#]],
        );
        check_buckets(
            &[1, 1, 1, 1, 1],
            100,
            2,
            expect![[r#"
                [0, 1] = 2
                [2, 3] = 2
                [4] = 1"#]],
        );
        check_buckets(
            &[150, 5],
            100,
            10,
            expect![[r#"
                [0] = 150
                [1] = 5"#]],
        );
    }

    #[test]
    fn no_bucket_breaks_a_limit_unless_one_file_does() {
        let sizes: Vec<u64> = (0..500).map(|i| (i * 7919) % 1000).collect();
        let cut = buckets(&sizes, 2_000, 16);
        let mut seen: Vec<usize> = cut.iter().flatten().copied().collect();
        seen.sort_unstable();
        assert_eq!(seen, (0..500).collect::<Vec<_>>());
        for bucket in &cut {
            assert!(bucket.len() <= 16);
            assert!(bucket.iter().map(|&i| sizes[i]).sum::<u64>() <= 2_000);
        }
    }
}
