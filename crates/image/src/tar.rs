//! A reproducible tar writer and reader: ustar headers with fixed times and owners, entries in
//! the order given; just what an image layer needs (directories and regular files).

use crate::ImageError;

/// One entry of an archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The path inside the archive, relative (`usr/local/bin/import-csv`; directories end in `/`).
    pub path: String,
    /// File mode bits (`0o755`).
    pub mode: u32,
    /// The owner's numeric ids.
    pub uid: u32,
    pub gid: u32,
    /// The file's bytes, or `None` for a directory.
    pub contents: Option<Vec<u8>>,
}

impl Entry {
    /// A directory owned by root.
    pub fn dir(path: &str, mode: u32) -> Entry {
        Entry {
            path: format!("{}/", path.trim_end_matches('/')),
            mode,
            uid: 0,
            gid: 0,
            contents: None,
        }
    }

    /// A regular file owned by root.
    pub fn file(path: &str, mode: u32, contents: Vec<u8>) -> Entry {
        Entry {
            path: path.to_owned(),
            mode,
            uid: 0,
            gid: 0,
            contents: Some(contents),
        }
    }
}

const BLOCK: usize = 512;

/// The archive of `entries`, in their order, ending with the two zero blocks.
pub fn write(entries: &[Entry]) -> Result<Vec<u8>, ImageError> {
    let mut out = Vec::new();
    for entry in entries {
        let name = entry.path.as_bytes();
        if name.len() > 100 {
            return Err(ImageError::NameTooLong(entry.path.clone()));
        }
        let size = entry.contents.as_ref().map_or(0, Vec::len);
        let mut header = [0u8; BLOCK];
        header[..name.len()].copy_from_slice(name);
        octal(&mut header[100..108], u64::from(entry.mode));
        octal(&mut header[108..116], u64::from(entry.uid));
        octal(&mut header[116..124], u64::from(entry.gid));
        octal(&mut header[124..136], size as u64);
        octal(&mut header[136..148], 0); // mtime: the epoch, always
        header[156] = if entry.contents.is_some() { b'0' } else { b'5' };
        header[257..263].copy_from_slice(b"ustar\0");
        header[263..265].copy_from_slice(b"00");
        // The checksum is computed with its own field as spaces.
        header[148..156].copy_from_slice(b"        ");
        let sum: u32 = header.iter().map(|&b| u32::from(b)).sum();
        let field = format!("{sum:06o}\0 ");
        header[148..156].copy_from_slice(field.as_bytes());
        out.extend_from_slice(&header);
        if let Some(contents) = &entry.contents {
            out.extend_from_slice(contents);
            out.resize(out.len().next_multiple_of(BLOCK), 0);
        }
    }
    out.resize(out.len() + 2 * BLOCK, 0);
    Ok(out)
}

/// Writes `value` as zero-padded octal digits followed by a NUL, filling `field`.
fn octal(field: &mut [u8], value: u64) {
    let digits = format!("{value:0width$o}\0", width = field.len() - 1);
    field.copy_from_slice(digits.as_bytes());
}

/// The entries of an archive that [`write`] could have written (ustar, directories and files).
pub fn read(archive: &[u8]) -> Result<Vec<Entry>, String> {
    let mut entries = Vec::new();
    let mut at = 0;
    while at + BLOCK <= archive.len() {
        let header = &archive[at..at + BLOCK];
        if header.iter().all(|&b| b == 0) {
            return Ok(entries);
        }
        let field = |range: std::ops::Range<usize>| -> Result<u64, String> {
            let text = std::str::from_utf8(&header[range])
                .map_err(|_| format!("a header field at byte {at} is not text"))?;
            let digits = text.trim_matches(|c: char| c == '\0' || c == ' ');
            u64::from_str_radix(if digits.is_empty() { "0" } else { digits }, 8)
                .map_err(|_| format!("a header field at byte {at} is not octal: {digits:?}"))
        };
        let name_end = header[..100].iter().position(|&b| b == 0).unwrap_or(100);
        let path = String::from_utf8(header[..name_end].to_vec())
            .map_err(|_| format!("the name at byte {at} is not UTF-8"))?;
        let size = usize::try_from(field(124..136)?).map_err(|_| "a size too large".to_owned())?;
        let mode = u32::try_from(field(100..108)?).map_err(|_| "a bad mode".to_owned())?;
        let uid = u32::try_from(field(108..116)?).map_err(|_| "a bad uid".to_owned())?;
        let gid = u32::try_from(field(116..124)?).map_err(|_| "a bad gid".to_owned())?;
        let contents = match header[156] {
            b'0' | 0 => {
                let start = at + BLOCK;
                let bytes = archive
                    .get(start..start + size)
                    .ok_or_else(|| format!("{path}: the archive ends inside the file"))?;
                Some(bytes.to_vec())
            }
            b'5' => None,
            other => {
                return Err(format!(
                    "{path}: entry type {:?} is not read",
                    other as char
                ));
            }
        };
        entries.push(Entry {
            path,
            mode,
            uid,
            gid,
            contents,
        });
        at += BLOCK + size.next_multiple_of(BLOCK);
    }
    Err("the archive ends without its two zero blocks".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_what_it_reads_back_byte_for_byte() {
        let entries = vec![
            Entry::dir("etc", 0o755),
            Entry::file(
                "etc/passwd",
                0o644,
                b"nonroot:x:65532:65532::/:/sbin/nologin\n".to_vec(),
            ),
            Entry::file("empty", 0o600, Vec::new()),
            Entry::file("big", 0o755, vec![7; 1500]),
        ];
        let archive = write(&entries).unwrap();
        assert_eq!(archive.len() % BLOCK, 0);
        assert_eq!(read(&archive).unwrap(), entries);
        assert_eq!(
            write(&entries).unwrap(),
            archive,
            "the same input, the same bytes"
        );
    }

    #[test]
    fn a_header_as_ustar_writes_it() {
        let archive = write(&[Entry::file("a", 0o644, b"x".to_vec())]).unwrap();
        let header = &archive[..BLOCK];
        assert_eq!(&header[100..108], b"0000644\0");
        assert_eq!(&header[124..136], b"00000000001\0");
        assert_eq!(&header[257..263], b"ustar\0");
        let stored: u32 =
            u32::from_str_radix(std::str::from_utf8(&header[148..154]).unwrap(), 8).unwrap();
        let mut blank = header.to_vec();
        blank[148..156].copy_from_slice(b"        ");
        assert_eq!(stored, blank.iter().map(|&b| u32::from(b)).sum::<u32>());
    }

    #[test]
    fn a_name_longer_than_a_header_holds_is_refused() {
        let long = "x".repeat(101);
        assert!(matches!(
            write(&[Entry::file(&long, 0o644, Vec::new())]),
            Err(ImageError::NameTooLong(_))
        ));
    }

    #[test]
    fn a_truncated_archive_is_refused() {
        let archive = write(&[Entry::file("a", 0o644, vec![1; 600])]).unwrap();
        assert!(read(&archive[..BLOCK + 100]).is_err());
    }
}
