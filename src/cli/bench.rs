//! `khulasa bench`: engine speed on a fixed prompt, and one full digest.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::Args;

use crate::article;
use crate::generate::candle::{self as engine, CandleGenerator, LoadOptions};
use crate::models::{self, Fetch};
use crate::prompt::Prompts;
use crate::summarize::{SummarizeOptions, Summarizer};

/// Arguments of `khulasa bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Model id or .gguf file. Default: the default model.
    #[arg(long)]
    pub model: Option<String>,
    /// Prompt length in tokens.
    #[arg(long, default_value_t = 1000)]
    pub prompt_tokens: usize,
    /// Tokens to generate.
    #[arg(long, default_value_t = 200)]
    pub gen_tokens: usize,
    /// Runs; the median is reported.
    #[arg(long, default_value_t = 3)]
    pub runs: usize,
    /// Untimed runs first (the same prompt, 8 generated tokens), so that a
    /// single timed run is not the process's first.
    #[arg(long, default_value_t = 1)]
    pub warmup: usize,
    /// Compute threads.
    #[arg(long)]
    pub threads: Option<usize>,
    /// Article for the full-digest timing.
    #[arg(long, default_value = "examples/ntrex-shark-en.txt")]
    pub article: PathBuf,
    /// Skip the full-digest timing (engine figures only).
    #[arg(long)]
    pub no_digest: bool,
    /// Also time decode steps of this many sequences at once against the
    /// same steps one sequence at a time (comma-separated, e.g. 2,4,8).
    #[arg(long, value_delimiter = ',')]
    pub parallel: Vec<usize>,
    /// Use only local files.
    #[arg(long)]
    pub offline: bool,
    /// Time the compact matrix products alone instead (random matrices of
    /// the bundled models' block types; no model is loaded), on the kernel
    /// path in use (`KHULASA_KERNELS`), with this many prompt tokens.
    #[arg(long, value_name = "TOKENS", num_args = 0..=1, default_missing_value = "128")]
    pub kernels: Option<usize>,
}

/// Peak resident memory of this process in bytes (Linux), if known.
fn peak_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Resident memory of this process now (Linux), in bytes: the private
/// anonymous pages (heap, caches, buffers) and the file-backed ones (the
/// mapped model and the binary: page cache that other processes mapping the
/// same file share).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Resident {
    anon: u64,
    file: u64,
}

impl Resident {
    /// From the kernel's counters in `/proc/self/status`, which cost
    /// nothing to read (`smaps_rollup` walks the page tables of the whole
    /// mapped model: read every 20 ms, that took a core's time from the
    /// products being measured).
    fn now() -> Option<Self> {
        Self::parse(&std::fs::read_to_string("/proc/self/status").ok()?)
    }

    /// Reads `RssAnon:`, `RssFile:` and `RssShmem:` (in kB) of a
    /// `/proc/PID/status` text.
    fn parse(text: &str) -> Option<Self> {
        let field = |name: &str| -> Option<u64> {
            let line = text.lines().find(|l| l.starts_with(name))?;
            Some(
                line[name.len()..]
                    .split_whitespace()
                    .next()?
                    .parse::<u64>()
                    .ok()?
                    * 1024,
            )
        };
        Some(Self {
            anon: field("RssAnon:")?,
            file: field("RssFile:")? + field("RssShmem:").unwrap_or(0),
        })
    }

    /// The larger of each part.
    fn max(self, other: Self) -> Self {
        Self {
            anon: self.anon.max(other.anon),
            file: self.file.max(other.file),
        }
    }
}

/// The most resident memory of each part while it runs, read every
/// [`SAMPLE_EVERY`] on a thread of its own: a prompt pass's activations
/// come and go between the runs, so what is left after each run is not the
/// peak.
struct Sampler {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: std::thread::JoinHandle<Resident>,
}

/// How often [`Sampler`] reads `/proc/self/status`.
const SAMPLE_EVERY: std::time::Duration = std::time::Duration::from_millis(20);

impl Sampler {
    fn start() -> Self {
        use std::sync::atomic::Ordering;
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut most = Resident::default();
            loop {
                most = most.max(Resident::now().unwrap_or_default());
                if flag.load(Ordering::Relaxed) {
                    return most;
                }
                std::thread::sleep(SAMPLE_EVERY);
            }
        });
        Self { stop, thread }
    }

    /// The most of each part seen, this moment included.
    fn finish(self) -> Resident {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.thread
            .join()
            .unwrap_or_default()
            .max(Resident::now().unwrap_or_default())
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Runs `khulasa bench`.
pub fn run(a: BenchArgs) -> anyhow::Result<ExitCode> {
    super::set_threads(a.threads);
    if let Some(tokens) = a.kernels {
        let report = serde_json::json!({
            "threads": engine::threads(),
            "kernels": engine::kernel_path()?.name(),
            "runs": a.runs,
            "products": engine::product_speeds(tokens, a.runs)?,
        });
        super::print(&format!("{}\n", serde_json::to_string_pretty(&report)?))?;
        return Ok(ExitCode::SUCCESS);
    }
    let name = a.model.clone().unwrap_or_else(models::default_id);
    let r = models::resolve(
        &name,
        Fetch {
            offline: a.offline,
            ..Fetch::default()
        },
    )?;
    let file_size = std::fs::metadata(&r.gguf).map(|m| m.len()).unwrap_or(0);
    let t0 = Instant::now();
    let mut g = CandleGenerator::load(&LoadOptions {
        gguf: r.gguf,
        tokenizer_json: r.tokenizer_json,
        id: r.id.clone(),
        sha256: r.sha256,
        licence: r.licence,
    })?;
    let load = t0.elapsed().as_secs_f64();
    // A fixed prompt: the example article repeated, cut to the exact length.
    let text = std::fs::read_to_string(&a.article).map_err(|e| crate::Error::io(&a.article, e))?;
    let mut ids = Vec::new();
    while ids.len() < a.prompt_tokens {
        ids.extend(g.encode(&text)?);
    }
    ids.truncate(a.prompt_tokens);
    let sampler = Sampler::start();
    for _ in 0..a.warmup {
        g.bench(&ids, a.gen_tokens.min(8))?;
    }
    let (mut pp, mut tg) = (Vec::new(), Vec::new());
    for _ in 0..a.runs.max(1) {
        let (p, t) = g.bench(&ids, a.gen_tokens)?;
        pp.push(a.prompt_tokens as f64 / p);
        tg.push(a.gen_tokens as f64 / t);
    }
    let parallel = if a.parallel.is_empty() {
        serde_json::Value::Null
    } else {
        let mut rows = Vec::new();
        for &n in &a.parallel {
            let (alone, together) = g.bench_parallel(&ids, a.gen_tokens, n.max(1))?;
            let tokens = (n.max(1) * a.gen_tokens) as f64;
            rows.push(serde_json::json!({
                "sequences": n,
                "one_at_a_time_tokens_per_sec": tokens / alone,
                "batched_tokens_per_sec": tokens / together,
                "speedup": alone / together,
                "peak_rss_bytes": peak_rss().unwrap_or(0),
            }));
        }
        serde_json::Value::Array(rows)
    };
    let (digest, words, check) = if a.no_digest {
        (None, None, None)
    } else {
        let art = article::read(&a.article.display().to_string(), &Default::default())?;
        let prompts = Prompts::embedded();
        let t1 = Instant::now();
        let d = Summarizer::new(&prompts, SummarizeOptions::default()).run(&mut g, &art)?;
        (
            Some(t1.elapsed().as_secs_f64()),
            Some(art.word_count),
            Some(d.timings),
        )
    };
    let check_secs = check.as_ref().map(|t| t.check_secs);
    let check_share = check
        .as_ref()
        .filter(|t| t.total_secs > 0.0)
        .map(|t| t.check_secs / t.total_secs);
    let over_file = |b: u64| {
        if file_size > 0 {
            b as f64 / file_size as f64
        } else {
            0.0
        }
    };
    let resident = sampler.finish();
    let rss = peak_rss().unwrap_or(0);
    let report = serde_json::json!({
        "model": r.id, "threads": engine::threads(), "kernels": crate::generate::candle::kernel_path()?.name(), "load_secs": load,
        "prompt_tokens": a.prompt_tokens, "gen_tokens": a.gen_tokens, "runs": a.runs, "warmup_runs": a.warmup,
        "prompt_tokens_per_sec": median(pp), "gen_tokens_per_sec": median(tg),
        "peak_rss_bytes": rss, "file_bytes": file_size,
        "rss_over_file": over_file(rss),
        "private_rss_bytes": resident.anon, "private_over_file": over_file(resident.anon),
        "shared_rss_bytes": resident.file, "shared_over_file": over_file(resident.file),
        "digest_secs": digest, "digest_article": a.article.display().to_string(), "digest_words": words,
        "digest_check_secs": check_secs, "digest_check_share": check_share,
        "digest_rewrite_secs": check.as_ref().map(|t| t.rewrite_secs),
        "digest_judged_claims": check.as_ref().map(|t| t.judged_claims),
        "parallel": parallel,
    });
    super::print(&format!("{}\n", serde_json::to_string_pretty(&report)?))?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::Resident;

    #[test]
    fn resident_memory_splits_into_anonymous_and_file_pages() {
        let text = "VmHWM:\t    1000 kB\nVmRSS:\t     900 kB\nRssAnon:\t     300 kB\n\
                    RssFile:\t     550 kB\nRssShmem:\t      50 kB\n";
        let r = Resident::parse(text).unwrap();
        assert_eq!((r.anon, r.file), (300 * 1024, 600 * 1024));
        assert_eq!(Resident::parse("VmRSS: 1 kB\n"), None);
        let m = r.max(Resident {
            anon: 400 * 1024,
            file: 0,
        });
        assert_eq!((m.anon, m.file), (400 * 1024, 600 * 1024));
    }
}
