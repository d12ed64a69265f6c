//! The one comment a preview keeps on its pull request: what it is, where it is, how to use it and
//! what the pull request changes in the definitions; or what failed; or that it is gone. Pure.

use std::fmt::Write as _;

/// The most lines of the definitions' diff a comment shows.
pub const MAX_DIFF_LINES: usize = 80;

/// The most characters of the diff a comment shows (GitHub takes 65536 per comment).
pub const MAX_DIFF_CHARS: usize = 30_000;

/// The hidden marker of the preview comment of `environment`.
pub fn marker(environment: &str) -> String {
    format!("<!-- userlog-preview {environment} -->")
}

/// Where a ready preview is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    /// The stack.
    pub stack: String,
    /// The PostgreSQL schema.
    pub schema: String,
    /// The input bucket.
    pub input_bucket: String,
    /// The import state machine.
    pub state_machine: String,
    /// The statistics API, when the stack has one.
    pub api_url: Option<String>,
    /// The dashboard's branch preview on Cloudflare Pages, or why there is none.
    pub dashboard: Result<String, String>,
    /// The command that imports a file into it.
    pub upload_command: String,
}

/// What the pull request changes in the definitions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DefinitionDiff {
    /// The rendering at the pull request's commit against the one at its base commit.
    Against {
        /// The base commit.
        base: String,
        /// `cargo xtask diff --against` as text.
        text: String,
    },
    /// It could not be computed, and why.
    Unavailable(String),
}

/// What the comment says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PreviewState {
    /// The preview is up.
    Ready {
        /// Where it is.
        endpoints: Endpoints,
        /// Whether this run changed nothing.
        unchanged: bool,
        /// What the pull request changes.
        diff: DefinitionDiff,
    },
    /// The preview failed.
    Failed {
        /// What failed.
        error: String,
        /// What the pull request changes.
        diff: DefinitionDiff,
    },
    /// The preview was removed.
    Removed,
}

/// The whole comment of `environment` at `commit`.
pub fn render(environment: &str, commit: &str, state: &PreviewState) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}", marker(environment));
    let short = &commit[..commit.len().min(12)];
    match state {
        PreviewState::Ready {
            endpoints,
            unchanged,
            diff,
        } => {
            let _ = writeln!(out, "### Preview `{environment}` is ready");
            let _ = writeln!(out);
            if *unchanged {
                let _ = writeln!(
                    out,
                    "The last run changed nothing: the preview was already up to date."
                );
                let _ = writeln!(out);
            }
            let _ = writeln!(out, "| | |");
            let _ = writeln!(out, "|---|---|");
            let _ = writeln!(out, "| Stack | `{}` |", endpoints.stack);
            let _ = writeln!(out, "| Database schema | `{}` |", endpoints.schema);
            let _ = writeln!(out, "| Input bucket | `{}` |", endpoints.input_bucket);
            let _ = writeln!(out, "| State machine | `{}` |", endpoints.state_machine);
            let _ = writeln!(
                out,
                "| API | {} |",
                endpoints
                    .api_url
                    .as_deref()
                    .map(|url| format!("<{url}>"))
                    .unwrap_or_else(|| "none".to_owned())
            );
            let _ = writeln!(
                out,
                "| Dashboard | {} |",
                match &endpoints.dashboard {
                    Ok(url) => format!("<{url}>"),
                    Err(why) => format!("none ({why})"),
                }
            );
            let _ = writeln!(out, "| Commit | `{short}` |");
            let _ = writeln!(out);
            let _ = writeln!(out, "Import a file into it:");
            let _ = writeln!(out);
            let _ = writeln!(out, "```sh\n{}\n```", endpoints.upload_command);
            write_diff(&mut out, diff);
        }
        PreviewState::Failed { error, diff } => {
            let _ = writeln!(out, "### Preview `{environment}` failed");
            let _ = writeln!(out);
            let _ = writeln!(out, "At commit `{short}`:");
            let _ = writeln!(out);
            let _ = writeln!(out, "```text\n{}\n```", shorten(error, MAX_DIFF_CHARS));
            write_diff(&mut out, diff);
        }
        PreviewState::Removed => {
            let _ = writeln!(out, "### Preview `{environment}` is gone");
            let _ = writeln!(out);
            let _ = writeln!(
                out,
                "Its stack, buckets, log groups, database schema and lock were removed (last commit `{short}`)."
            );
        }
    }
    out
}

fn write_diff(out: &mut String, diff: &DefinitionDiff) {
    let _ = writeln!(out);
    match diff {
        DefinitionDiff::Against { base, text } => {
            let short = &base[..base.len().min(12)];
            let _ = writeln!(
                out,
                "#### What this pull request changes in the definitions (against `{short}`)"
            );
            let _ = writeln!(out);
            if text.trim().is_empty() || text.trim() == "no changes" {
                let _ = writeln!(out, "Nothing: the rendered definitions are the same.");
                return;
            }
            let _ = writeln!(out, "```diff\n{}\n```", shorten_lines(text.trim_end()));
        }
        DefinitionDiff::Unavailable(why) => {
            let _ = writeln!(out, "The definitions' diff is not available: {why}");
        }
    }
}

/// `text` cut to at most `max` characters, with an ellipsis when cut.
pub fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// The diff cut to [`MAX_DIFF_LINES`] lines and [`MAX_DIFF_CHARS`] characters, saying how much
/// was left out (`cargo xtask diff --against` shows all of it).
fn shorten_lines(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let mut kept = String::new();
    let mut shown = 0;
    for line in &lines {
        if shown == MAX_DIFF_LINES || kept.len() + line.len() + 1 > MAX_DIFF_CHARS {
            break;
        }
        kept.push_str(line);
        kept.push('\n');
        shown += 1;
    }
    if shown < lines.len() {
        let _ = write!(
            kept,
            "… {} more line(s): run `cargo xtask diff --against <base>` for all of it",
            lines.len() - shown
        );
    } else {
        kept.pop();
    }
    kept
}

#[cfg(test)]
mod tests {
    use expect_test::{Expect, expect};

    use super::*;

    fn endpoints() -> Endpoints {
        Endpoints {
            stack: "preview-pr-7-userlog".to_owned(),
            schema: "pr_7".to_owned(),
            input_bucket: "preview-pr-7-userlog-input-000000000000".to_owned(),
            state_machine: "arn:aws:states:ap-northeast-1:000000000000:stateMachine:preview-pr-7-userlog-import".to_owned(),
            api_url: None,
            dashboard: Ok("https://pr-7.userlog-dashboard-staging.pages.dev".to_owned()),
            upload_command: "cargo xtask upload FILE --env preview-pr-7 --wait".to_owned(),
        }
    }

    // expect-test's `check` helpers take the expectation by value, as its documentation does.
    #[allow(clippy::needless_pass_by_value)]
    fn check(state: PreviewState, expected: Expect) {
        expected.assert_eq(&render(
            "preview-pr-7",
            "0123456789abcdef0123456789abcdef01234567",
            &state,
        ));
    }

    #[test]
    fn a_ready_preview_says_where_it_is_and_what_changed() {
        check(
            PreviewState::Ready {
                endpoints: endpoints(),
                unchanged: false,
                diff: DefinitionDiff::Against {
                    base: "fedcba9876543210".to_owned(),
                    text: "~ stack Resources ValidateCsvFunction\n    ~ Properties.MemorySize: 256 -> 512\n".to_owned(),
                },
            },
            expect![[r#"
                <!-- userlog-preview preview-pr-7 -->
                ### Preview `preview-pr-7` is ready

                | | |
                |---|---|
                | Stack | `preview-pr-7-userlog` |
                | Database schema | `pr_7` |
                | Input bucket | `preview-pr-7-userlog-input-000000000000` |
                | State machine | `arn:aws:states:ap-northeast-1:000000000000:stateMachine:preview-pr-7-userlog-import` |
                | API | none |
                | Dashboard | <https://pr-7.userlog-dashboard-staging.pages.dev> |
                | Commit | `0123456789ab` |

                Import a file into it:

                ```sh
                cargo xtask upload FILE --env preview-pr-7 --wait
                ```

                #### What this pull request changes in the definitions (against `fedcba987654`)

                ```diff
                ~ stack Resources ValidateCsvFunction
                    ~ Properties.MemorySize: 256 -> 512
                ```
            "#]],
        );
    }

    #[test]
    fn a_failed_preview_says_what_failed() {
        check(
            PreviewState::Failed {
                error: "the stack preview-pr-7-userlog failed: ROLLBACK_COMPLETE".to_owned(),
                diff: DefinitionDiff::Unavailable("no base commit is known".to_owned()),
            },
            expect![[r#"
                <!-- userlog-preview preview-pr-7 -->
                ### Preview `preview-pr-7` failed

                At commit `0123456789ab`:

                ```text
                the stack preview-pr-7-userlog failed: ROLLBACK_COMPLETE
                ```

                The definitions' diff is not available: no base commit is known
            "#]],
        );
    }

    #[test]
    fn a_removed_preview_says_it_is_gone() {
        check(
            PreviewState::Removed,
            expect![[r#"
                <!-- userlog-preview preview-pr-7 -->
                ### Preview `preview-pr-7` is gone

                Its stack, buckets, log groups, database schema and lock were removed (last commit `0123456789ab`).
            "#]],
        );
    }

    #[test]
    fn long_diffs_are_cut_and_say_how_much_is_left_out() {
        let text: String = (1..=100).map(|i| format!("+ line {i}\n")).collect();
        let cut = shorten_lines(&text);
        assert_eq!(cut.lines().count(), MAX_DIFF_LINES + 1);
        assert!(
            cut.ends_with(
                "… 20 more line(s): run `cargo xtask diff --against <base>` for all of it"
            ),
            "{cut}"
        );
        assert_eq!(shorten_lines("+ a\n+ b"), "+ a\n+ b");
        assert_eq!(shorten("abcdef", 4), "abc…");
        assert_eq!(shorten("abc", 4), "abc");
    }
}
