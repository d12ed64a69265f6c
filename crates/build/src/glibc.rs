//! The glibc versions an ELF executable needs, and the check against the glibc of the Lambda runtime.
//!
//! A dynamically linked executable records, in its `.gnu.version_r` section, every symbol version it
//! needs from each shared library (`GLIBC_2.2.5`, `GLIBC_2.34`, ...), and in `.gnu.version` which
//! version each imported symbol is bound to. The linker binds each symbol to the newest version the
//! build machine's glibc offers, so an executable built on a newer system than the runtime's may
//! need a version the runtime lacks and then fails to start. The sections are read with the
//! `object` crate rather than by running `readelf`: it reads the structured tables directly, needs
//! nothing installed, and keeps the check a pure function of the executable's bytes.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

use object::elf::{FileHeader32, FileHeader64, SHT_DYNSYM};
use object::read::elf::{FileHeader, Sym as _};
use object::{Endianness, FileKind};

use crate::error::BuildError;

/// The glibc of Amazon Linux 2023, the OS of the Lambda `provided.al2023` runtime.
pub const AL2023_GLIBC: GlibcVersion = GlibcVersion::new(2, 34, 0);

/// The prefix of glibc's symbol version names (`GLIBC_2.34`).
const GLIBC_PREFIX: &str = "GLIBC_";

/// A numbered glibc version such as 2.2.5 or 2.34; versions compare numerically, part by part.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GlibcVersion {
    major: u16,
    minor: u16,
    patch: u16,
}

impl GlibcVersion {
    /// The version `major.minor.patch`; a patch of 0 is not shown.
    pub const fn new(major: u16, minor: u16, patch: u16) -> GlibcVersion {
        GlibcVersion {
            major,
            minor,
            patch,
        }
    }

    /// The version a symbol version name stands for: `GLIBC_2.34` is 2.34. Names that are not a
    /// numbered glibc version (`GLIBC_PRIVATE`, `GCC_3.0`) give `None`.
    pub fn from_symbol_version(name: &str) -> Option<GlibcVersion> {
        name.strip_prefix(GLIBC_PREFIX)?.parse().ok()
    }
}

impl fmt::Display for GlibcVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)?;
        if self.patch != 0 {
            write!(f, ".{}", self.patch)?;
        }
        Ok(())
    }
}

impl FromStr for GlibcVersion {
    type Err = BuildError;

    /// Parses `2.34` or `2.2.5`: two or three decimal parts.
    fn from_str(text: &str) -> Result<GlibcVersion, BuildError> {
        let invalid = || BuildError::InvalidGlibcVersion(text.to_owned());
        let mut parts = text.split('.').map(|part| {
            if part.is_empty() || !part.bytes().all(|byte| byte.is_ascii_digit()) {
                return Err(invalid());
            }
            part.parse::<u16>().map_err(|_| invalid())
        });
        let major = parts.next().ok_or_else(invalid)??;
        let minor = parts.next().ok_or_else(invalid)??;
        let patch = parts.next().transpose()?.unwrap_or(0);
        if parts.next().is_some() {
            return Err(invalid());
        }
        Ok(GlibcVersion::new(major, minor, patch))
    }
}

impl serde::Serialize for GlibcVersion {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for GlibcVersion {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<GlibcVersion, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// One symbol version an executable needs from a shared library, with the symbols bound to it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct VersionNeed {
    /// The library that must provide the version, e.g. `libc.so.6`.
    pub library: String,
    /// The version's name, e.g. `GLIBC_2.34`.
    pub version: String,
    /// The imported symbols bound to this version, sorted; empty when none is (the linker may
    /// keep a version that only a dependency of the library needed).
    pub symbols: Vec<String>,
}

impl VersionNeed {
    /// The need for `version` of `library` by `symbols`.
    pub fn new(library: &str, version: &str, symbols: &[&str]) -> VersionNeed {
        VersionNeed {
            library: library.to_owned(),
            version: version.to_owned(),
            symbols: symbols.iter().map(|symbol| (*symbol).to_owned()).collect(),
        }
    }

    /// Whether the version is one of glibc's (`GLIBC_...`), whichever glibc library it is from.
    pub fn is_glibc(&self) -> bool {
        self.version.starts_with(GLIBC_PREFIX)
    }
}

/// Every symbol version the ELF executable `elf` needs, sorted by library and version name.
///
/// An executable without version needs (a static one) gives an empty list.
pub fn version_needs(elf: &[u8]) -> Result<Vec<VersionNeed>, BuildError> {
    match FileKind::parse(elf)? {
        FileKind::Elf64 => version_needs_of::<FileHeader64<Endianness>>(elf),
        FileKind::Elf32 => version_needs_of::<FileHeader32<Endianness>>(elf),
        _ => Err(BuildError::NotElf),
    }
}

/// [`version_needs`] for one ELF class.
fn version_needs_of<Elf: FileHeader<Endian = Endianness>>(
    elf: &[u8],
) -> Result<Vec<VersionNeed>, BuildError> {
    let header = Elf::parse(elf)?;
    let endian = header.endian()?;
    let sections = header.sections(endian, elf)?;
    let mut needs: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();

    // Every version the executable requires, including those no symbol is bound to.
    if let Some((mut verneeds, strings_index)) = sections.gnu_verneed(endian, elf)? {
        let strings = sections.strings(endian, elf, strings_index)?;
        while let Some((verneed, mut vernauxs)) = verneeds.next()? {
            let library = String::from_utf8_lossy(verneed.file(endian, strings)?).into_owned();
            while let Some(vernaux) = vernauxs.next()? {
                let version = String::from_utf8_lossy(vernaux.name(endian, strings)?).into_owned();
                needs.entry((library.clone(), version)).or_default();
            }
        }
    }

    // Which imported symbol is bound to which of those versions.
    if let Some(versions) = sections.versions(endian, elf)? {
        let symbols = sections.symbols(endian, elf, SHT_DYNSYM)?;
        for (index, symbol) in symbols.enumerate() {
            let version_index = versions.version_index(endian, index).index();
            let Some(version) = versions.version(version_index)? else {
                continue;
            };
            let Some(library) = version.file() else {
                continue;
            };
            let name = symbol.name(endian, symbols.strings())?;
            needs
                .entry((
                    String::from_utf8_lossy(library).into_owned(),
                    String::from_utf8_lossy(version.name()).into_owned(),
                ))
                .or_default()
                .insert(String::from_utf8_lossy(name).into_owned());
        }
    }

    Ok(needs
        .into_iter()
        .map(|((library, version), symbols)| VersionNeed {
            library,
            version,
            symbols: symbols.into_iter().collect(),
        })
        .collect())
}

/// What the glibc check found for one executable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GlibcReport {
    /// The newest numbered glibc version the executable needs; `None` when it needs none.
    pub highest: Option<GlibcVersion>,
    /// The glibc versions the runtime does not provide: newer than the limit, or not numbered
    /// (such as `GLIBC_ABI_DT_RELR`, which glibc only defines from 2.36 on).
    pub too_new: Vec<VersionNeed>,
}

impl GlibcReport {
    /// Whether the executable can be loaded by a glibc of the limit the report was made for.
    pub fn is_compatible(&self) -> bool {
        self.too_new.is_empty()
    }

    /// The offending versions as one line per version: `GLIBC_2.36 (libc.so.6): arc4random`.
    pub fn describe_too_new(&self) -> String {
        let mut text = String::new();
        for need in &self.too_new {
            if !text.is_empty() {
                text.push('\n');
            }
            let symbols = if need.symbols.is_empty() {
                "(no symbol bound to it)".to_owned()
            } else {
                need.symbols.join(", ")
            };
            text.push_str(&format!("{} ({}): {}", need.version, need.library, symbols));
        }
        text
    }
}

/// Checks the glibc `needs` of an executable against the glibc version `limit` of the runtime.
pub fn check(needs: &[VersionNeed], limit: GlibcVersion) -> GlibcReport {
    let mut highest = None;
    let mut too_new = Vec::new();
    for need in needs.iter().filter(|need| need.is_glibc()) {
        match GlibcVersion::from_symbol_version(&need.version) {
            Some(version) => {
                highest = highest.max(Some(version));
                if version > limit {
                    too_new.push(need.clone());
                }
            }
            None => too_new.push(need.clone()),
        }
    }
    GlibcReport { highest, too_new }
}

#[cfg(test)]
mod tests {
    use expect_test::{Expect, expect};

    use super::*;

    /// Parses each text as a version and shows the result, or the error, one per line.
    fn check_parse(texts: &[&str], expected: &Expect) {
        let shown: Vec<String> = texts
            .iter()
            .map(|text| match text.parse::<GlibcVersion>() {
                Ok(version) => format!("{text} -> {version}"),
                Err(err) => format!("{text} -> error: {err}"),
            })
            .collect();
        expected.assert_eq(&shown.join("\n"));
    }

    #[test]
    fn versions_parse_with_two_or_three_parts() {
        check_parse(
            &[
                "2.34", "2.2.5", "2.0", "10.1.2", "2", "2.", "2.x", "2.3.4.5", "", "-2.3",
                "2.99999",
            ],
            &expect![[r#"
                2.34 -> 2.34
                2.2.5 -> 2.2.5
                2.0 -> 2.0
                10.1.2 -> 10.1.2
                2 -> error: `2` is not a glibc version such as 2.34
                2. -> error: `2.` is not a glibc version such as 2.34
                2.x -> error: `2.x` is not a glibc version such as 2.34
                2.3.4.5 -> error: `2.3.4.5` is not a glibc version such as 2.34
                 -> error: `` is not a glibc version such as 2.34
                -2.3 -> error: `-2.3` is not a glibc version such as 2.34
                2.99999 -> error: `2.99999` is not a glibc version such as 2.34"#]],
        );
    }

    #[test]
    fn versions_compare_numerically_part_by_part() {
        let version = |text: &str| text.parse::<GlibcVersion>().expect("a valid version");
        assert!(version("2.2.5") < version("2.3"));
        assert!(version("2.3") < version("2.3.4"));
        assert!(version("2.9") < version("2.10"));
        assert!(version("2.34") < version("2.35"));
        assert!(version("2.34") > version("2.4"));
        assert!(version("3.0") > version("2.99"));
        assert_eq!(version("2.34"), version("2.34.0"));
        assert_eq!(AL2023_GLIBC, version("2.34"));
    }

    #[test]
    fn symbol_version_names_map_to_glibc_versions() {
        let parsed =
            |name: &str| GlibcVersion::from_symbol_version(name).map(|version| version.to_string());
        assert_eq!(parsed("GLIBC_2.2.5").as_deref(), Some("2.2.5"));
        assert_eq!(parsed("GLIBC_2.34").as_deref(), Some("2.34"));
        assert_eq!(parsed("GLIBC_PRIVATE"), None);
        assert_eq!(parsed("GLIBC_ABI_DT_RELR"), None);
        assert_eq!(parsed("GCC_3.0"), None);
        assert_eq!(parsed("2.34"), None);
    }

    /// Checks `needs` against 2.34 and shows the highest version and what is too new.
    fn check_needs(needs: &[VersionNeed], expected: &Expect) {
        let report = check(needs, AL2023_GLIBC);
        let highest = report
            .highest
            .map_or_else(|| "none".to_owned(), |version| version.to_string());
        let verdict = if report.is_compatible() {
            "compatible".to_owned()
        } else {
            format!("too new:\n{}", report.describe_too_new())
        };
        expected.assert_eq(&format!("highest {highest}; {verdict}"));
    }

    #[test]
    fn needs_up_to_the_limit_are_compatible() {
        check_needs(
            &[
                VersionNeed::new("libc.so.6", "GLIBC_2.2.5", &["free", "malloc"]),
                VersionNeed::new("libc.so.6", "GLIBC_2.34", &["__libc_start_main"]),
                VersionNeed::new("libm.so.6", "GLIBC_2.29", &["exp"]),
                VersionNeed::new("libgcc_s.so.1", "GCC_4.2.0", &["_Unwind_Backtrace"]),
            ],
            &expect![[r#"highest 2.34; compatible"#]],
        );
    }

    #[test]
    fn needs_above_the_limit_name_their_symbols() {
        check_needs(
            &[
                VersionNeed::new("libc.so.6", "GLIBC_2.2.5", &["free"]),
                VersionNeed::new("libc.so.6", "GLIBC_2.35", &[]),
                VersionNeed::new("libc.so.6", "GLIBC_2.36", &["arc4random", "arc4random_buf"]),
                VersionNeed::new("libm.so.6", "GLIBC_2.38", &["__isoc23_strtol"]),
            ],
            &expect![[r#"
                highest 2.38; too new:
                GLIBC_2.35 (libc.so.6): (no symbol bound to it)
                GLIBC_2.36 (libc.so.6): arc4random, arc4random_buf
                GLIBC_2.38 (libm.so.6): __isoc23_strtol"#]],
        );
    }

    #[test]
    fn unnumbered_glibc_versions_are_not_assumed_present() {
        check_needs(
            &[
                VersionNeed::new("libc.so.6", "GLIBC_2.17", &["clock_gettime"]),
                VersionNeed::new("libc.so.6", "GLIBC_ABI_DT_RELR", &[]),
                VersionNeed::new("libc.so.6", "GLIBC_PRIVATE", &["__libc_secure_getenv"]),
            ],
            &expect![[r#"
                highest 2.17; too new:
                GLIBC_ABI_DT_RELR (libc.so.6): (no symbol bound to it)
                GLIBC_PRIVATE (libc.so.6): __libc_secure_getenv"#]],
        );
    }

    #[test]
    fn an_executable_without_glibc_needs_is_compatible() {
        check_needs(&[], &expect![[r#"highest none; compatible"#]]);
    }
}
