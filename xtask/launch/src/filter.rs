//! Which of cargo's output reaches the terminal: everything, unless all it says is `Finished`.

/// A filter over cargo's stderr, fed as it arrives.
///
/// Until cargo has said something other than its `Finished ...` line, output is held back one line
/// at a time; a held `Finished` line is dropped. From the first other line on (`Compiling`,
/// `Blocking waiting for file lock`, an error, the progress bar), everything passes unchanged.
#[derive(Debug, Default)]
pub(crate) struct Filter {
    held: Vec<u8>,
    passing: bool,
}

impl Filter {
    /// What of `bytes` to show now.
    pub(crate) fn push(&mut self, bytes: &[u8]) -> Vec<u8> {
        if self.passing {
            return bytes.to_vec();
        }
        self.held.extend_from_slice(bytes);
        let mut shown = Vec::new();
        while let Some(end) = self.held.iter().position(|&b| b == b'\n' || b == b'\r') {
            let line: Vec<u8> = self.held.drain(..=end).collect();
            if is_finished(&line) || is_blank(&line) {
                continue;
            }
            self.passing = true;
            shown.extend_from_slice(&line);
            shown.append(&mut self.held);
            break;
        }
        shown
    }

    /// What is left to show when cargo has exited.
    pub(crate) fn finish(&mut self) -> Vec<u8> {
        let rest = std::mem::take(&mut self.held);
        if self.passing || !(is_finished(&rest) || is_blank(&rest)) {
            rest
        } else {
            Vec::new()
        }
    }
}

/// Whether a line is cargo's `Finished` line (possibly coloured).
fn is_finished(line: &[u8]) -> bool {
    let text = strip_ansi(line);
    text.trim_start().starts_with("Finished ")
}

fn is_blank(line: &[u8]) -> bool {
    strip_ansi(line).trim().is_empty()
}

/// The text of a line without ANSI escape sequences (`ESC [ ... letter`).
fn strip_ansi(line: &[u8]) -> String {
    let text = String::from_utf8_lossy(line);
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for next in chars.by_ref() {
                if next.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::Filter;

    /// Feeds `chunks` to a filter and compares everything it shows with `expected`.
    fn check(chunks: &[&str], expected: &str) {
        let mut filter = Filter::default();
        let mut shown = Vec::new();
        for chunk in chunks {
            shown.extend(filter.push(chunk.as_bytes()));
        }
        shown.extend(filter.finish());
        assert_eq!(String::from_utf8(shown).unwrap(), expected);
    }

    #[test]
    fn an_up_to_date_build_shows_nothing() {
        check(
            &["    Finished `release` profile [optimized] target(s) in 0.21s\n"],
            "",
        );
        check(
            &[
                "\x1b[1m\x1b[32m    Finished\x1b[0m `release` profile",
                " in 0.2s\n",
            ],
            "",
        );
    }

    #[test]
    fn a_build_that_compiles_shows_everything_from_its_first_line() {
        check(
            &[
                "   Compiling serde v1.0\n   Comp",
                "iling xtask v0.1.0\n    Finished `release`\n",
            ],
            "   Compiling serde v1.0\n   Compiling xtask v0.1.0\n    Finished `release`\n",
        );
    }

    #[test]
    fn a_progress_bar_passes_as_it_is_drawn() {
        check(
            &[
                "\x1b[1m\x1b[36m    Building\x1b[0m [=>   ] 3/400: syn\r",
                "\x1b[K[==> ] 40/400\r",
            ],
            "\x1b[1m\x1b[36m    Building\x1b[0m [=>   ] 3/400: syn\r\x1b[K[==> ] 40/400\r",
        );
    }

    #[test]
    fn waiting_for_another_build_is_shown() {
        check(
            &["    Blocking waiting for file lock on build directory\n    Finished `release`\n"],
            "    Blocking waiting for file lock on build directory\n    Finished `release`\n",
        );
    }

    #[test]
    fn an_error_without_a_newline_is_shown_at_the_end() {
        check(&["error: could not compile"], "error: could not compile");
    }
}
