//! Writing to stdout: a closed pipe (`starling tone x | head`) ends the program quietly.

use std::io::Write;

/// Writes `text` to stdout and flushes; a broken pipe becomes an error `main` treats as success.
pub fn print(text: &str) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(text.as_bytes())?;
    stdout.flush()?;
    Ok(())
}

/// Whether `err` is, at its root, a closed stdout.
pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// A progress bar on stderr that stays hidden until the first `update` (so a pass that reports
/// nothing draws nothing), and that indicatif hides when stderr is not a terminal.
pub struct Progress {
    bar: indicatif::ProgressBar,
    template: &'static str,
}

impl Progress {
    pub fn new(template: &'static str) -> Progress {
        Progress {
            bar: indicatif::ProgressBar::hidden(),
            template,
        }
    }

    pub fn update(&self, done: usize, total: usize) {
        if self.bar.is_hidden() && self.bar.length().is_none() {
            self.bar
                .set_draw_target(indicatif::ProgressDrawTarget::stderr());
            self.bar.set_style(
                indicatif::ProgressStyle::with_template(self.template).expect("a valid template"),
            );
        }
        self.bar.set_length(total as u64);
        self.bar.set_position(done as u64);
    }

    pub fn set_message(&self, message: &str) {
        self.bar.set_message(message.to_string());
    }

    pub fn finish_and_clear(&self) {
        self.bar.finish_and_clear();
    }
}
