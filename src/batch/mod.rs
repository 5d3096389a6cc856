//! Batches: many articles, one model load, crash-safe resumable output,
//! per-item failures, deterministic sharding across machines, and merging.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::article::{self, sha256_hex, ReadOptions};
use crate::digest::BatchInfo;
use crate::error::{Error, Result};
use crate::generate::Generator;
use crate::summarize::Summarizer;

pub mod inputs;
mod progress;
pub mod store;

pub use inputs::{collect, Item, Unreadable};
pub use progress::Progress;
pub use store::{Failure, Store};

/// The process-wide stop request (SIGINT/SIGTERM), checked between articles
/// and by the decoder between tokens.
pub fn stop_flag() -> &'static Arc<AtomicBool> {
    static FLAG: OnceLock<Arc<AtomicBool>> = OnceLock::new();
    FLAG.get_or_init(|| Arc::new(AtomicBool::new(false)))
}

/// True once a stop was requested.
pub fn stop_requested() -> bool {
    stop_flag().load(Ordering::Relaxed)
}

/// One worker's share of the inputs: `index` in `0..count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    /// This worker, from 0.
    pub index: u64,
    /// Number of workers.
    pub count: u64,
}

impl Shard {
    /// Parses `K/N` (K from 0), or `auto`: Slurm job arrays
    /// (`SLURM_ARRAY_TASK_ID`, `SLURM_ARRAY_TASK_MIN`, `SLURM_ARRAY_TASK_COUNT`)
    /// or Kubernetes Indexed Jobs (`JOB_COMPLETION_INDEX` with
    /// `KHULASA_SHARD_COUNT`).
    pub fn parse(s: &str) -> std::result::Result<Shard, String> {
        if s == "auto" {
            return Self::from_env();
        }
        let (k, n) = s.split_once('/').ok_or("use K/N, e.g. 0/4, or auto")?;
        let index: u64 = k
            .trim()
            .parse()
            .map_err(|_| format!("bad shard index '{k}'"))?;
        let count: u64 = n
            .trim()
            .parse()
            .map_err(|_| format!("bad shard count '{n}'"))?;
        if count == 0 || index >= count {
            return Err(format!(
                "shard {index}/{count}: the index must be below the count (K from 0)"
            ));
        }
        Ok(Shard { index, count })
    }

    fn from_env() -> std::result::Result<Shard, String> {
        let var = |k: &str| {
            std::env::var(k)
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok())
        };
        if let (Some(id), Some(count)) = (var("SLURM_ARRAY_TASK_ID"), var("SLURM_ARRAY_TASK_COUNT"))
        {
            let min = var("SLURM_ARRAY_TASK_MIN").unwrap_or(0);
            return Self::parse(&format!("{}/{count}", id.saturating_sub(min)));
        }
        if let (Some(idx), Some(count)) = (var("JOB_COMPLETION_INDEX"), var("KHULASA_SHARD_COUNT"))
        {
            return Self::parse(&format!("{idx}/{count}"));
        }
        Err("--shard auto needs SLURM_ARRAY_TASK_ID with SLURM_ARRAY_TASK_COUNT, or JOB_COMPLETION_INDEX with KHULASA_SHARD_COUNT".into())
    }

    /// True when `id` belongs to this shard (by a hash of the id).
    pub fn owns(&self, id: &str) -> bool {
        let h = sha256_hex(id.as_bytes());
        let v = u64::from_str_radix(&h[..15], 16).unwrap_or(0);
        v % self.count == self.index
    }
}

/// What a batch does.
#[derive(Debug, Clone, Default)]
pub struct BatchOptions {
    /// Reading options for every input.
    pub read: ReadOptions,
    /// Only this shard of the inputs.
    pub shard: Option<Shard>,
    /// Only items that failed last time.
    pub retry_failed: bool,
    /// Stop taking new items at this instant.
    pub deadline: Option<std::time::SystemTime>,
    /// Text that identifies the summarizing options, part of each item's key.
    pub options_id: String,
}

/// The batch report (`report.json`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Report {
    /// Report schema version.
    pub schema_version: u32,
    /// Model id and sha256.
    pub model: String,
    /// Prompt versions.
    pub prompt_version: String,
    /// The shard, as `K/N`, if sharded.
    pub shard: Option<String>,
    /// Items found in the inputs (this shard).
    pub total: usize,
    /// Items with a digest now.
    pub succeeded: usize,
    /// Of those, digests kept from an earlier run.
    pub skipped_existing: usize,
    /// Items that failed, with reasons.
    pub failed: Vec<Failure>,
    /// Items not attempted (stop request or deadline).
    pub pending: Vec<String>,
    /// Items found twice (same id); processed once.
    pub duplicates: Vec<String>,
    /// A stop was requested (SIGINT/SIGTERM).
    pub interrupted: bool,
    /// The deadline stopped the batch.
    pub deadline_reached: bool,
    /// Seconds this run took.
    pub elapsed_secs: f64,
}

/// How a batch ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Every item has a digest.
    AllSucceeded,
    /// Some items failed.
    SomeFailed,
    /// Stopped by a signal.
    Interrupted,
}

/// Runs a batch over `items` into `store`.
pub fn run(
    g: &mut dyn Generator,
    summarizer: &Summarizer<'_>,
    items: Vec<Item>,
    unreadable: Vec<Unreadable>,
    store: &Store,
    opts: &BatchOptions,
    progress: &mut Progress,
) -> Result<(Report, Outcome)> {
    let t0 = Instant::now();
    let previous: std::collections::HashSet<String> =
        store.failures().into_iter().map(|f| f.id).collect();
    let mut seen = std::collections::HashSet::new();
    let mut report = Report {
        schema_version: 1,
        model: format!("{} {}", g.info().id, g.info().sha256),
        prompt_version: summarizer.prompt_version(),
        ..Default::default()
    };
    report.shard = opts.shard.map(|s| format!("{}/{}", s.index, s.count));
    let mut todo = Vec::new();
    for item in items {
        if opts.shard.is_some_and(|s| !s.owns(&item.id))
            || (opts.retry_failed && !previous.contains(&item.id))
        {
            continue;
        }
        if !seen.insert(item.id.clone()) {
            report
                .duplicates
                .push(format!("{} ({})", item.id, item.origin));
            continue;
        }
        todo.push(item);
    }
    for u in unreadable {
        if opts.shard.is_none_or(|s| s.owns(&u.id))
            && (!opts.retry_failed || previous.contains(&u.id))
            && seen.insert(u.id.clone())
        {
            store.put_failure(&Failure {
                id: u.id,
                path: u.origin,
                reason: u.reason,
            })?;
            report.total += 1;
        }
    }
    report.total += todo.len();
    progress.start(todo.len());
    let model_sha = g.info().sha256.clone();
    for (i, item) in todo.iter().enumerate() {
        let key = item_key(item, &model_sha, &report.prompt_version, &opts.options_id);
        if store.is_done(&item.id, &key) {
            report.skipped_existing += 1;
            progress.skipped(&item.id);
            continue;
        }
        if stop_requested() {
            report.interrupted = true;
        } else if opts
            .deadline
            .is_some_and(|d| std::time::SystemTime::now() >= d)
        {
            report.deadline_reached = true;
        }
        if report.interrupted || report.deadline_reached {
            report.pending.extend(
                todo[i..]
                    .iter()
                    .filter(|it| {
                        !store.is_done(
                            &it.id,
                            &item_key(it, &model_sha, &report.prompt_version, &opts.options_id),
                        )
                    })
                    .map(|it| it.id.clone()),
            );
            break;
        }
        let started = Instant::now();
        match summarize_item(g, summarizer, item, &key, opts) {
            Ok(d) => {
                store.put_digest(&item.id, &d)?;
                progress.done(
                    &item.id,
                    started.elapsed().as_secs_f64(),
                    d.timings.generated_tokens_per_sec,
                );
            }
            Err(Error::Interrupted) => {
                report.interrupted = true;
                report
                    .pending
                    .extend(todo[i..].iter().map(|it| it.id.clone()));
                break;
            }
            Err(e) => {
                let reason = one_line(&e.to_string());
                store.put_failure(&Failure {
                    id: item.id.clone(),
                    path: item.origin.clone(),
                    reason: reason.clone(),
                })?;
                progress.failed(&item.id, &reason);
            }
        }
    }
    progress.finish();
    let ids: std::collections::HashSet<&str> = todo.iter().map(|i| i.id.as_str()).collect();
    report.succeeded = store
        .digests()
        .iter()
        .filter(|d| {
            d.batch
                .as_ref()
                .is_some_and(|b| ids.contains(b.id.as_str()))
        })
        .count();
    report.failed = store
        .failures()
        .into_iter()
        .filter(|f| seen.contains(&f.id))
        .collect();
    report.elapsed_secs = t0.elapsed().as_secs_f64();
    finish(store, &report)?;
    let outcome = if report.interrupted {
        Outcome::Interrupted
    } else if report.failed.is_empty() && report.pending.is_empty() {
        Outcome::AllSucceeded
    } else {
        Outcome::SomeFailed
    };
    Ok((report, outcome))
}

/// Rebuilds `digests.jsonl` and writes `report.json`.
pub fn finish(store: &Store, report: &Report) -> Result<()> {
    store.rebuild_jsonl()?;
    let json = serde_json::to_vec_pretty(report).map_err(|source| Error::Json {
        what: "report".into(),
        source,
    })?;
    store::write_atomic(&store.root.join("report.json"), &json)
}

fn item_key(item: &Item, model_sha: &str, prompts: &str, options: &str) -> String {
    sha256_hex(
        format!(
            "{}\n{model_sha}\n{prompts}\n{options}",
            sha256_hex(&item.bytes)
        )
        .as_bytes(),
    )[..32]
        .to_string()
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn summarize_item(
    g: &mut dyn Generator,
    summarizer: &Summarizer<'_>,
    item: &Item,
    key: &str,
    opts: &BatchOptions,
) -> Result<crate::digest::Digest> {
    let article = article::from_bytes(&item.origin, &item.bytes, &opts.read)?;
    let mut d = summarizer.run(g, &article)?;
    d.batch = Some(BatchInfo {
        id: item.id.clone(),
        key: key.to_string(),
        url: item.url.clone(),
        published: item.published.clone(),
    });
    Ok(d)
}

/// Merges shard folders into `out`: every digest once (by id), failures that
/// no shard resolved, and a combined report.
pub fn merge(dirs: &[std::path::PathBuf], out: &Store) -> Result<Report> {
    let mut report = Report {
        schema_version: 1,
        ..Default::default()
    };
    let mut done = std::collections::BTreeMap::new();
    let mut failures = std::collections::BTreeMap::new();
    for dir in dirs {
        if !dir.is_dir() {
            return Err(Error::bad_input(
                dir.display().to_string(),
                "not a batch output folder",
            ));
        }
        let s = Store::new(dir);
        for d in s.digests() {
            if let Some(b) = &d.batch {
                if done.contains_key(&b.id) {
                    report.duplicates.push(b.id.clone());
                }
                done.insert(b.id.clone(), d);
            }
        }
        for f in s.failures() {
            failures.insert(f.id.clone(), f);
        }
        if let Ok(text) = std::fs::read_to_string(dir.join("report.json")) {
            if let Ok(r) = serde_json::from_str::<Report>(&text) {
                report.interrupted |= r.interrupted;
                report.deadline_reached |= r.deadline_reached;
                report.pending.extend(r.pending);
                report.elapsed_secs += r.elapsed_secs;
                if report.model.is_empty() {
                    report.model = r.model;
                    report.prompt_version = r.prompt_version;
                }
            }
        }
    }
    for (id, d) in &done {
        out.put_digest(id, d)?;
        failures.remove(id);
    }
    for f in failures.values() {
        out.put_failure(f)?;
    }
    report.pending.retain(|p| !done.contains_key(p));
    report.succeeded = done.len();
    report.failed = failures.into_values().collect();
    report.total = report.succeeded + report.failed.len() + report.pending.len();
    finish(out, &report)?;
    Ok(report)
}

#[cfg(test)]
mod tests;
