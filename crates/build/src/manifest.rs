//! The build manifest (`manifest.json` beside the zips) and the size table shown after a build.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::error::BuildError;
use crate::glibc::GlibcVersion;

/// The file name of the manifest in the output directory.
pub const MANIFEST_NAME: &str = "manifest.json";

/// What one build produced: one entry per function, sorted by name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub functions: Vec<FunctionArtifact>,
}

/// One function's zip.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FunctionArtifact {
    /// The function (its package's name).
    pub name: String,
    /// The zip's file name in the output directory: `<name>.zip`.
    pub zip: String,
    /// The same zip under a content-hashed name: `<name>-<first 12 hex digits of sha256>.zip`.
    pub hashed_zip: String,
    /// The key to upload the zip to in the artifacts bucket: `functions/<name>/<sha256>.zip`.
    pub s3_key: String,
    /// The SHA-256 of the zip, lowercase hex.
    pub sha256: String,
    /// The zip's size in bytes.
    pub bytes: u64,
    /// The executable's size in bytes, before compression.
    pub binary_bytes: u64,
    /// The newest glibc version the executable needs; `null` for one that needs none.
    pub max_glibc: Option<GlibcVersion>,
}

impl Manifest {
    /// A manifest of `functions`, sorted by name so that the same build renders the same text.
    pub fn new(mut functions: Vec<FunctionArtifact>) -> Manifest {
        functions.sort_by(|left, right| left.name.cmp(&right.name));
        Manifest { functions }
    }

    /// The manifest as pretty-printed JSON with a final newline, as written to `manifest.json`.
    pub fn to_json(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).unwrap_or_default();
        text.push('\n');
        text
    }

    /// Reads a manifest written by [`Manifest::to_json`].
    pub fn from_json(text: &str) -> Result<Manifest, BuildError> {
        serde_json::from_str(text).map_err(BuildError::Manifest)
    }

    /// The entry of the function `name`.
    pub fn function(&self, name: &str) -> Option<&FunctionArtifact> {
        self.functions.iter().find(|function| function.name == name)
    }

    /// A table of the functions with their zip and executable sizes, glibc needs and short hash.
    pub fn to_table(&self) -> String {
        let header = ["function", "zip", "binary", "glibc", "sha256"];
        let rows: Vec<[String; 5]> = self
            .functions
            .iter()
            .map(|function| {
                [
                    function.name.clone(),
                    human_bytes(function.bytes),
                    human_bytes(function.binary_bytes),
                    function
                        .max_glibc
                        .map_or_else(|| "-".to_owned(), |version| version.to_string()),
                    function
                        .sha256
                        .chars()
                        .take(crate::package::SHORT_HASH_LEN)
                        .collect(),
                ]
            })
            .collect();
        let mut widths = header.map(str::len);
        for row in &rows {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.len());
            }
        }
        let mut table = String::new();
        let header = header.map(str::to_owned);
        for row in std::iter::once(&header).chain(&rows) {
            let mut line = String::new();
            for (column, (cell, width)) in row.iter().zip(widths).enumerate() {
                // The name and the hash read left to right; sizes and versions line up on the right.
                let _ = match column {
                    0 => write!(line, "{cell:<width$}"),
                    4 => write!(line, "  {cell}"),
                    _ => write!(line, "  {cell:>width$}"),
                };
            }
            table.push_str(line.trim_end());
            table.push('\n');
        }
        table
    }
}

/// A byte count for people: `812 B`, `1.5 KiB`, `14.2 MiB` (powers of 1024, one decimal).
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    // Precision beyond one decimal does not matter for a size shown to people.
    #[allow(clippy::cast_precision_loss)]
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    // A value that would show as 1024.0 moves to the next unit.
    while value >= 1023.95 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use expect_test::{Expect, expect};

    use super::*;

    fn artifact(
        name: &str,
        bytes: u64,
        binary_bytes: u64,
        max_glibc: Option<GlibcVersion>,
    ) -> FunctionArtifact {
        let sha256 = crate::package::sha256_hex(name.as_bytes());
        FunctionArtifact {
            name: name.to_owned(),
            zip: crate::package::zip_name(name),
            hashed_zip: crate::package::hashed_zip_name(name, &sha256),
            s3_key: crate::package::s3_key(name, &sha256),
            sha256,
            bytes,
            binary_bytes,
            max_glibc,
        }
    }

    fn sample() -> Manifest {
        Manifest::new(vec![
            artifact(
                "validate-csv",
                5_347_123,
                14_876_544,
                Some(GlibcVersion::new(2, 34, 0)),
            ),
            artifact(
                "check-errors",
                4_020_001,
                11_002_112,
                Some(GlibcVersion::new(2, 33, 0)),
            ),
            artifact("static-tool", 900, 1_500, None),
        ])
    }

    fn check(actual: &str, expected: &Expect) {
        expected.assert_eq(actual);
    }

    #[test]
    fn the_manifest_renders_as_sorted_camel_case_json() {
        check(
            &sample().to_json(),
            &expect![[r#"
                {
                  "functions": [
                    {
                      "name": "check-errors",
                      "zip": "check-errors.zip",
                      "hashedZip": "check-errors-7cabf340bc7b.zip",
                      "s3Key": "functions/check-errors/7cabf340bc7bdbc06a8e3b48e76839ee50d19d3122de4408846ee8146e862f21.zip",
                      "sha256": "7cabf340bc7bdbc06a8e3b48e76839ee50d19d3122de4408846ee8146e862f21",
                      "bytes": 4020001,
                      "binaryBytes": 11002112,
                      "maxGlibc": "2.33"
                    },
                    {
                      "name": "static-tool",
                      "zip": "static-tool.zip",
                      "hashedZip": "static-tool-ad4f60474b34.zip",
                      "s3Key": "functions/static-tool/ad4f60474b34ddebc1fe882987846ab340bf87ae7c3c71304ff8547886206c81.zip",
                      "sha256": "ad4f60474b34ddebc1fe882987846ab340bf87ae7c3c71304ff8547886206c81",
                      "bytes": 900,
                      "binaryBytes": 1500,
                      "maxGlibc": null
                    },
                    {
                      "name": "validate-csv",
                      "zip": "validate-csv.zip",
                      "hashedZip": "validate-csv-3b3720648648.zip",
                      "s3Key": "functions/validate-csv/3b372064864898bc3ee62ba5e0a51e8f7d2003f0659cea4b9402a431819de0f1.zip",
                      "sha256": "3b372064864898bc3ee62ba5e0a51e8f7d2003f0659cea4b9402a431819de0f1",
                      "bytes": 5347123,
                      "binaryBytes": 14876544,
                      "maxGlibc": "2.34"
                    }
                  ]
                }
            "#]],
        );
    }

    #[test]
    fn the_manifest_reads_back_what_it_wrote() {
        let manifest = sample();
        let read = Manifest::from_json(&manifest.to_json()).expect("the manifest reads back");
        assert_eq!(read, manifest);
        assert_eq!(
            read.function("check-errors").map(|function| function.bytes),
            Some(4_020_001)
        );
        assert!(read.function("stats-api").is_none());
    }

    #[test]
    fn a_malformed_glibc_version_is_rejected_when_read() {
        let text = sample().to_json().replace("\"2.33\"", "\"two\"");
        let err = Manifest::from_json(&text).expect_err("the version is not a version");
        check(
            &err.to_string(),
            &expect![
                "cannot read the manifest: `two` is not a glibc version such as 2.34 at line 12 column 5"
            ],
        );
    }

    #[test]
    fn the_table_shows_sizes_for_people() {
        check(
            &sample().to_table(),
            &expect![[r#"
                function          zip    binary  glibc  sha256
                check-errors  3.8 MiB  10.5 MiB   2.33  7cabf340bc7b
                static-tool     900 B   1.5 KiB      -  ad4f60474b34
                validate-csv  5.1 MiB  14.2 MiB   2.34  3b3720648648
            "#]],
        );
    }

    #[test]
    fn byte_counts_use_binary_units_with_one_decimal() {
        let shown: Vec<String> = [
            0,
            1023,
            1024,
            1536,
            1_048_575,
            1_048_576,
            14_876_544,
            5_368_709_120,
            u64::MAX,
        ]
        .map(human_bytes)
        .to_vec();
        check(
            &shown.join("\n"),
            &expect![[r#"
                0 B
                1023 B
                1.0 KiB
                1.5 KiB
                1.0 MiB
                1.0 MiB
                14.2 MiB
                5.0 GiB
                16.0 EiB"#]],
        );
    }
}
