//! Progress bars for long steps, drawn on stderr only when a person is watching.

use std::io::IsTerminal as _;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use userlog_db::bulk::Progress;

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
