//! Batch progress on stderr: a bar on a terminal, plain lines otherwise.

use std::io::IsTerminal;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Progress of a batch: done/total, failures, articles per hour, tokens/s, ETA.
pub struct Progress {
    bar: Option<ProgressBar>,
    quiet: bool,
    total: usize,
    done: usize,
    failed: usize,
    started: Instant,
    last_tps: f64,
}

impl Progress {
    /// A bar when stderr is a terminal, log lines when not; nothing if `quiet`.
    pub fn new(quiet: bool) -> Self {
        Self {
            bar: None,
            quiet,
            total: 0,
            done: 0,
            failed: 0,
            started: Instant::now(),
            last_tps: 0.0,
        }
    }

    pub(crate) fn start(&mut self, total: usize) {
        self.total = total;
        self.started = Instant::now();
        if !self.quiet && std::io::stderr().is_terminal() {
            let bar =
                ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template("{bar:30} {pos}/{len} {msg} ETA {eta}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            self.bar = Some(bar);
        }
    }

    fn rate(&self) -> f64 {
        let h = self.started.elapsed().as_secs_f64() / 3600.0;
        if h > 0.0 {
            (self.done + self.failed) as f64 / h
        } else {
            0.0
        }
    }

    fn line(&self, id: &str, what: &str) {
        let pos = self.done + self.failed;
        let msg = format!(
            "failed {} | {:.0} articles/h | {:.1} tok/s",
            self.failed,
            self.rate(),
            self.last_tps
        );
        if let Some(b) = &self.bar {
            b.set_position(pos as u64);
            b.set_message(msg);
        } else if !self.quiet {
            let left = self.total.saturating_sub(pos);
            let eta = if pos > 0 {
                self.started.elapsed().as_secs_f64() / pos as f64 * left as f64
            } else {
                0.0
            };
            eprintln!(
                "[{pos}/{}] {id} {what} | {msg} | ETA {:.0}s",
                self.total, eta
            );
        }
    }

    pub(crate) fn skipped(&mut self, id: &str) {
        self.done += 1;
        self.line(id, "already done");
    }

    pub(crate) fn done(&mut self, id: &str, secs: f64, tps: f64) {
        self.done += 1;
        self.last_tps = tps;
        self.line(id, &format!("ok in {secs:.1}s"));
    }

    pub(crate) fn failed(&mut self, id: &str, reason: &str) {
        self.failed += 1;
        self.line(id, &format!("FAILED: {reason}"));
    }

    pub(crate) fn finish(&mut self) {
        if let Some(b) = self.bar.take() {
            b.finish_and_clear();
        }
    }
}
