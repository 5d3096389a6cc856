//! Batches: many articles, one model load, crash-safe resumable output,
//! per-item failures, deterministic sharding across machines, and merging.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
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
    /// Articles in flight at once (their decode steps batched where the
    /// generator can); 0 or 1 is one at a time.
    pub parallel: usize,
    /// Why `parallel` is lower than the user asked, for the report.
    pub parallel_lowered: Option<String>,
}

/// Prompt tokens a lane may hold beyond the article chunk and the reply:
/// the instructions, the digest grammar's examples and a chunk's notes.
pub const LANE_PROMPT_ALLOWANCE: usize = 1024;

/// The most lanes, up to `requested`, whose KV caches fit in `max_memory`
/// beside the weights, and a note for the report when that is fewer than
/// asked. A lane holds at most `positions` positions; its cache is made for
/// a prompt and 256 positions more, and grows by half when full, so twice
/// that many bounds it. Without a limit, or
/// where the lanes share one cache (`memory` `None`), `requested` stands.
pub fn lanes_within(
    requested: usize,
    max_memory: Option<u64>,
    memory: Option<crate::generate::LaneMemory>,
    positions: usize,
) -> Result<(usize, Option<String>)> {
    let requested = requested.max(1);
    let (Some(limit), Some(m)) = (max_memory, memory) else {
        return Ok((requested, None));
    };
    let per_lane = m.kv_bytes_per_position * 2 * positions.next_multiple_of(256) as u64;
    // The weights and what the lanes share (kept prompt beginnings).
    let fixed = m.weights_bytes + m.shared_bytes;
    let fit = limit.saturating_sub(fixed) / per_lane.max(1);
    let mb = |b: u64| b.div_ceil(1 << 20);
    if fit == 0 {
        return Err(Error::bad_input(
            format!("--max-memory {} MiB", mb(limit)),
            format!(
                "the model ({} MiB with its kept prompt beginnings) and one KV cache ({} MiB for \
                 {positions} positions) need {} MiB; allow more memory, or lower --context-tokens \
                 or --max-new-tokens",
                mb(fixed),
                mb(per_lane),
                mb(fixed + per_lane)
            ),
        ));
    }
    let lanes = requested.min(usize::try_from(fit).unwrap_or(usize::MAX));
    let note = (lanes < requested).then(|| {
        format!(
            "--parallel {requested} lowered to {lanes}: each lane's KV cache may take {} MiB \
             ({positions} positions) beside the model's {} MiB, within --max-memory {} MiB",
            mb(per_lane),
            mb(fixed),
            mb(limit)
        )
    });
    Ok((lanes, note))
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
    /// Articles in flight at once, and why fewer than asked (`--max-memory`).
    #[serde(default)]
    pub parallel: usize,
    /// Set when `--parallel` was lowered to fit `--max-memory`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parallel_lowered: Option<String>,
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
    let run = Run {
        summarizer,
        todo: &todo,
        store,
        opts,
        model_sha: &model_sha,
        prompts: &report.prompt_version,
        next: AtomicUsize::new(0),
        state: Mutex::new(RunState::default()),
        progress: Mutex::new(progress),
    };
    let lanes = opts.parallel.clamp(1, todo.len().max(1));
    report.parallel = lanes;
    report.parallel_lowered = opts.parallel_lowered.clone();
    crate::generate::run_lanes(g, lanes, &|g| run.lane(g))?;
    let Run {
        state, progress, ..
    } = run;
    let mut state = state.into_inner().unwrap_or_else(PoisonError::into_inner);
    let progress = progress
        .into_inner()
        .unwrap_or_else(PoisonError::into_inner);
    if let Some(e) = state.error.take() {
        progress.finish();
        return Err(e);
    }
    state.pending.sort_unstable();
    report.skipped_existing = state.skipped;
    report.interrupted = state.interrupted;
    report.deadline_reached = state.deadline_reached;
    report
        .pending
        .extend(state.pending.into_iter().map(|i| todo[i].id.clone()));
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

/// A batch run's items and what its lanes share.
struct Run<'a, 's> {
    summarizer: &'a Summarizer<'s>,
    todo: &'a [Item],
    store: &'a Store,
    opts: &'a BatchOptions,
    model_sha: &'a str,
    prompts: &'a str,
    /// The next item to take.
    next: AtomicUsize,
    state: Mutex<RunState>,
    progress: Mutex<&'a mut Progress>,
}

/// What the lanes of a run found, gathered for the report.
#[derive(Default)]
struct RunState {
    skipped: usize,
    /// Items not attempted or stopped, by their index in the run.
    pending: Vec<usize>,
    interrupted: bool,
    deadline_reached: bool,
    /// A failure of the output folder itself: every lane stops.
    error: Option<Error>,
}

impl<'a> Run<'a, '_> {
    fn state(&self) -> std::sync::MutexGuard<'_, RunState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn progress(&self) -> std::sync::MutexGuard<'_, &'a mut Progress> {
        self.progress.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes items one by one until none is left: one lane's work. After a
    /// stop request, past the deadline or after an output error, the items
    /// left are only marked pending.
    fn lane(&self, g: &mut dyn Generator) {
        loop {
            let i = self.next.fetch_add(1, Ordering::Relaxed);
            let Some(item) = self.todo.get(i) else {
                return;
            };
            let key = item_key(item, self.model_sha, self.prompts, &self.opts.options_id);
            if self.store.is_done(&item.id, &key) {
                self.state().skipped += 1;
                self.progress().skipped(&item.id);
                continue;
            }
            {
                let mut st = self.state();
                if stop_requested() {
                    st.interrupted = true;
                } else if self
                    .opts
                    .deadline
                    .is_some_and(|d| std::time::SystemTime::now() >= d)
                {
                    st.deadline_reached = true;
                }
                if st.interrupted || st.deadline_reached || st.error.is_some() {
                    st.pending.push(i);
                    continue;
                }
            }
            let started = Instant::now();
            let outcome = match summarize_item(g, self.summarizer, item, &key, self.opts) {
                Ok(d) => self.store.put_digest(&item.id, &d).map(|()| {
                    self.progress().done(
                        &item.id,
                        started.elapsed().as_secs_f64(),
                        d.timings.generated_tokens,
                    );
                }),
                Err(Error::Interrupted) => {
                    let mut st = self.state();
                    st.interrupted = true;
                    st.pending.push(i);
                    Ok(())
                }
                Err(e) => {
                    let reason = one_line(&e.to_string());
                    self.store
                        .put_failure(&Failure {
                            id: item.id.clone(),
                            path: item.origin.clone(),
                            reason: reason.clone(),
                        })
                        .map(|()| self.progress().failed(&item.id, &reason))
                }
            };
            if let Err(e) = outcome {
                let mut st = self.state();
                st.pending.push(i);
                st.error.get_or_insert(e);
            }
        }
    }
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
