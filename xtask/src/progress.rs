//! Progress bars for long steps, drawn on stderr only when a person is watching.

use std::io::IsTerminal as _;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use userlog_db::bulk::Progress;

/// Says a line of progress: on stdout, or on stderr when stdout is for JSON.
pub(crate) fn say(json: bool, line: &str) {
    if json {
        eprintln!("{line}");
    } else {
        println!("{line}");
    }
}

/// A bar over the bytes of a file, with the current step as its message.
pub(crate) struct BytesProgress {
    bar: ProgressBar,
}

impl BytesProgress {
    /// A bar for `total` bytes; hidden when stderr is not a terminal or output is JSON.
    pub(crate) fn new(total: u64, quiet: bool) -> BytesProgress {
        let bar = ProgressBar::new(total);
        if quiet || !std::io::stderr().is_terminal() {
            bar.set_draw_target(ProgressDrawTarget::hidden());
        }
        bar.set_style(
            ProgressStyle::with_template(
                "{msg:>10} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        BytesProgress { bar }
    }

    pub(crate) fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

impl Progress for BytesProgress {
    fn bytes_read(&self, bytes: u64) {
        self.bar.set_position(bytes);
    }

    fn step(&self, name: &'static str) {
        self.bar.set_message(name);
    }
}

/// The steps of a deploy, a rollback or an upload as lines on stderr, each step with the time
/// since the command started, so that a person (or a CI log) sees what runs and how long it takes.
pub(crate) struct StepPrinter {
    started: std::time::Instant,
    color: bool,
}

impl StepPrinter {
    pub(crate) fn new() -> StepPrinter {
        StepPrinter {
            started: std::time::Instant::now(),
            color: std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
        }
    }

    fn paint(&self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }
}

impl userlog_deploy::progress::Progress for StepPrinter {
    fn step(&self, title: &str) {
        let elapsed = self.started.elapsed().as_secs_f64();
        eprintln!(
            "{} {title}",
            self.paint("1;34", &format!("[{elapsed:6.1}s] ==>"))
        );
    }

    fn detail(&self, line: &str) {
        eprintln!("           {line}");
    }

    fn warn(&self, line: &str) {
        eprintln!("           {} {line}", self.paint("1;33", "warning:"));
    }
}
