//! Progress on stderr for long work: indicatif draws nothing when stderr
//! is not a terminal, and `--json` asks for none.

use functions::maintenance::backup::{Progress, Quiet};

/// A progress bar for work of a known size (tenant export and import).
struct Bar(indicatif::ProgressBar);

impl Progress for Bar {
    fn start(&self, total: u64, what: &str) {
        self.0.set_length(total);
        self.0.set_style(
            indicatif::ProgressStyle::with_template(
                "{bar:40} {pos}/{len} {msg} ({per_sec}, {eta} left)",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        self.0.set_message(what.to_string());
    }
    fn advance(&self, n: u64) {
        self.0.inc(n);
    }
    fn finish(&self) {
        self.0.finish_and_clear();
    }
}

/// A spinner with the elapsed time, for work whose size is not known
/// ahead (migrations, cleanups by hand).
pub fn spinner(quiet: bool, what: &str) -> indicatif::ProgressBar {
    if quiet {
        return indicatif::ProgressBar::hidden();
    }
    let bar =
        indicatif::ProgressBar::with_draw_target(None, indicatif::ProgressDrawTarget::stderr());
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
    );
    bar.set_message(what.to_string());
    bar.enable_steady_tick(std::time::Duration::from_millis(200));
    bar
}

/// A bar, or nothing when `quiet`.
pub fn bar(quiet: bool) -> Box<dyn Progress> {
    if quiet {
        Box::new(Quiet)
    } else {
        Box::new(Bar(indicatif::ProgressBar::with_draw_target(
            None,
            indicatif::ProgressDrawTarget::stderr(),
        )))
    }
}
