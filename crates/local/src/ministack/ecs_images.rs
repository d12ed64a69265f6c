//! The file that tells the emulator which local program stands for an ECS container image:
//! `<state dir>/ecs-images.json`, read by the launcher at every `RunTask`.
//!
//! ```json
//! {
//!   "images": {
//!     "123456789012.dkr.ecr.ap-northeast-1.amazonaws.com/local-userlog-import-csv": {
//!       "program": "/abs/path/to/target/release/import-csv",
//!       "environment": { "RUST_LOG": "info" }
//!     }
//!   }
//! }
//! ```
//!
//! A task's image matches an entry exactly, or by its repository (the image without its tag or
//! digest), so one entry serves every tag. `program` is an absolute path; it is run with the
//! container's `command` as its arguments. `environment` plays the part of the image's own `ENV`:
//! the task definition's and the override's variables win over it.

use std::collections::BTreeMap;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::LocalError;
use crate::lock::StateLock;
use crate::process::{is_executable, write_file_atomically};

/// The file name in the emulator's state directory.
pub const ECS_IMAGES_FILE: &str = "ecs-images.json";

/// Every image the emulator can run, by image reference (with or without tag).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EcsImages {
    /// The entries.
    pub images: BTreeMap<String, EcsImage>,
}

/// The local program that stands for one container image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EcsImage {
    /// The executable, an absolute path.
    pub program: PathBuf,
    /// Variables the image would set; the task definition's and the override's win over them.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub environment: BTreeMap<String, String>,
}

impl EcsImage {
    /// An image that is just this program.
    pub fn program(program: impl Into<PathBuf>) -> Self {
        Self {
            program: program.into(),
            environment: BTreeMap::new(),
        }
    }

    /// The same image with one more variable.
    pub fn with_env(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.environment.insert(name.into(), value.into());
        self
    }
}

impl EcsImages {
    /// These images with `image` set to `entry` (replacing an earlier entry for it).
    pub fn with(mut self, image: &str, entry: EcsImage) -> Self {
        self.images.insert(image.to_owned(), entry);
        self
    }

    /// The file's text (pretty JSON, keys sorted, so diffs stay readable).
    pub fn render(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).unwrap_or_default();
        text.push('\n');
        text
    }
}

/// The reasons an entry cannot work, checked before it is written.
pub fn entry_problem(image: &str, entry: &EcsImage) -> Option<String> {
    if image.trim().is_empty() || image.chars().any(char::is_whitespace) {
        return Some("the image reference is empty or holds white space".to_owned());
    }
    if !entry.program.is_absolute() {
        return Some(
            "the program must be an absolute path (the emulator runs it from its own directory)"
                .to_owned(),
        );
    }
    if !is_executable(&entry.program) {
        return Some("the program is not an executable file".to_owned());
    }
    None
}

/// The entries of the file at `path`; none when it does not exist.
pub fn read_ecs_images(path: &Path) -> Result<EcsImages, LocalError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(error) if error.kind() == ErrorKind::NotFound => return Ok(EcsImages::default()),
        Err(error) => return Err(LocalError::io("read", path)(error)),
    };
    serde_json::from_str(&text).map_err(|source| LocalError::StateFile {
        path: path.to_path_buf(),
        source,
    })
}

/// Adds or replaces the entry for `image` in the file at `path`, keeping the other entries. The
/// emulator reads the file at every `RunTask`, so a running emulator needs no restart. Takes the
/// lock of the file's directory (the emulator's state directory) meanwhile.
pub fn register_ecs_image(path: &Path, image: &str, entry: EcsImage) -> Result<(), LocalError> {
    if let Some(reason) = entry_problem(image, &entry) {
        return Err(LocalError::InvalidEcsImage {
            image: image.to_owned(),
            program: entry.program,
            reason,
        });
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    let _lock = StateLock::acquire(dir)?;
    let images = read_ecs_images(path)?.with(image, entry);
    write_file_atomically(path, images.render().as_bytes())
}

#[cfg(test)]
mod tests {
    use expect_test::expect;

    use super::*;

    #[test]
    fn entries_merge_and_render_sorted() {
        let images = EcsImages::default()
            .with(
                "123456789012.dkr.ecr.ap-northeast-1.amazonaws.com/local-userlog-import-csv",
                EcsImage::program("/repo/target/release/import-csv").with_env("RUST_LOG", "info"),
            )
            .with("local/old", EcsImage::program("/bin/false"))
            .with("local/old", EcsImage::program("/bin/true"));
        expect![[r#"
            {
              "images": {
                "123456789012.dkr.ecr.ap-northeast-1.amazonaws.com/local-userlog-import-csv": {
                  "program": "/repo/target/release/import-csv",
                  "environment": {
                    "RUST_LOG": "info"
                  }
                },
                "local/old": {
                  "program": "/bin/true"
                }
              }
            }
        "#]]
        .assert_eq(&images.render());
        let parsed: EcsImages = serde_json::from_str(&images.render()).expect("it reads back");
        assert_eq!(parsed, images);
    }

    #[test]
    fn entries_need_an_absolute_executable_program() {
        let sh = crate::process::find_in_path("sh").expect("sh is installed");
        assert_eq!(entry_problem("local/task", &EcsImage::program(&sh)), None);
        expect![[r#"
            Some(
                "the program must be an absolute path (the emulator runs it from its own directory)",
            )
        "#]]
        .assert_debug_eq(&entry_problem("local/task", &EcsImage::program("bin/import-csv")));
        expect![[r#"
            Some(
                "the image reference is empty or holds white space",
            )
        "#]]
        .assert_debug_eq(&entry_problem(" ", &EcsImage::program(&sh)));
        assert!(entry_problem("local/task", &EcsImage::program("/no/such/program")).is_some());
    }
}
