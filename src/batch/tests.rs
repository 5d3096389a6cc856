use super::*;
use crate::generate::ScriptedGenerator;
use crate::prompt::Prompts;
use crate::summarize::SummarizeOptions;

const DIGEST: &str = r#"{"headline": "Officials report an event", "summary": "Officials reported an event.", "key_facts": ["It happened.", "Officials spoke.", "People watched."]}"#;

fn wire(dir: &std::path::Path, n: usize) -> Vec<String> {
    let folder = dir.join("wire");
    std::fs::create_dir_all(&folder).unwrap();
    for i in 0..n {
        std::fs::write(
            folder.join(format!("a{i:02}.txt")),
            format!("Story number {i} was reported by officials today. It was a big event."),
        )
        .unwrap();
    }
    std::fs::write(folder.join("empty.txt"), "   ").unwrap();
    vec![folder.display().to_string()]
}

struct Run {
    report: Report,
    outcome: Outcome,
    calls: usize,
}

fn run_batch(inputs: &[String], out: &std::path::Path, opts: BatchOptions) -> Run {
    run_with(
        std::iter::repeat_n(DIGEST.to_string(), 200).collect(),
        inputs,
        out,
        opts,
    )
}

fn run_with(
    replies: Vec<String>,
    inputs: &[String],
    out: &std::path::Path,
    opts: BatchOptions,
) -> Run {
    let prompts = Prompts::embedded();
    let summarizer = Summarizer::new(&prompts, SummarizeOptions::default());
    let mut g = ScriptedGenerator::new(replies);
    let (items, bad) = collect(inputs, inputs::DEFAULT_GLOB);
    let (report, outcome) = batch_run(&mut g, &summarizer, items, bad, out, &opts);
    Run {
        report,
        outcome,
        calls: g.seen.len(),
    }
}

fn batch_run(
    g: &mut ScriptedGenerator,
    s: &Summarizer<'_>,
    items: Vec<Item>,
    bad: Vec<Unreadable>,
    out: &std::path::Path,
    opts: &BatchOptions,
) -> (Report, Outcome) {
    run(
        g,
        s,
        items,
        bad,
        &Store::new(out),
        opts,
        &mut Progress::new(true),
    )
    .unwrap()
}

#[test]
fn runs_reports_failures_and_resumes() {
    let d = tempfile::tempdir().unwrap();
    let inputs = wire(d.path(), 5);
    let out = d.path().join("out");
    let r = run_batch(&inputs, &out, BatchOptions::default());
    assert_eq!(r.outcome, Outcome::SomeFailed);
    assert_eq!(
        (r.report.total, r.report.succeeded, r.report.failed.len()),
        (6, 5, 1)
    );
    assert!(r.report.failed[0].reason.contains("input is empty"));
    assert!(r.report.failed[0].path.ends_with("empty.txt"));
    let jsonl = std::fs::read_to_string(out.join("digests.jsonl")).unwrap();
    assert_eq!(jsonl.lines().count(), 5);
    assert!(out.join("report.json").is_file());
    // A rerun does nothing new: every digest exists with the same key.
    let again = run_batch(&inputs, &out, BatchOptions::default());
    assert_eq!(again.calls, 0);
    assert_eq!(again.report.skipped_existing, 5);
    // Other options make other keys: everything is redone.
    let changed = run_batch(
        &inputs,
        &out,
        BatchOptions {
            options_id: "other".into(),
            ..Default::default()
        },
    );
    assert_eq!(changed.calls, 5);
}

#[test]
fn retry_failed_touches_only_failures() {
    let d = tempfile::tempdir().unwrap();
    let inputs = wire(d.path(), 3);
    let out = d.path().join("out");
    // The first article meets a model failure; the empty file fails to read.
    let mut replies = vec!["{\"headline\": 1}".to_string()];
    replies.extend(std::iter::repeat_n(DIGEST.to_string(), 10));
    let first = run_with(replies, &inputs, &out, BatchOptions::default());
    assert_eq!(first.report.failed.len(), 2);
    let r = run_batch(
        &inputs,
        &out,
        BatchOptions {
            retry_failed: true,
            ..Default::default()
        },
    );
    assert_eq!(r.calls, 1, "only the model failure is summarized again");
    assert_eq!(r.report.total, 2);
    assert_eq!(r.report.failed.len(), 1);
    assert_eq!(r.report.succeeded, 1);
}

#[test]
fn shards_partition_the_ids_and_merge_back() {
    let d = tempfile::tempdir().unwrap();
    let inputs = wire(d.path(), 12);
    let single = run_batch(&inputs, &d.path().join("one"), BatchOptions::default());
    for n in [2u64, 3] {
        let mut dirs = Vec::new();
        let mut seen = 0;
        for k in 0..n {
            let dir = d.path().join(format!("s{n}-{k}"));
            let r = run_batch(
                &inputs,
                &dir,
                BatchOptions {
                    shard: Some(Shard { index: k, count: n }),
                    ..Default::default()
                },
            );
            seen += r.report.total;
            dirs.push(dir);
        }
        assert_eq!(
            seen, single.report.total,
            "shards of {n} must cover each item once"
        );
        let merged = merge(&dirs, &Store::new(d.path().join(format!("merged{n}")))).unwrap();
        assert_eq!(merged.succeeded, single.report.succeeded);
        assert_eq!(merged.failed.len(), 1);
        assert!(merged.duplicates.is_empty());
        let ids = |p: std::path::PathBuf| -> Vec<String> {
            Store::new(p)
                .digests()
                .into_iter()
                .map(|d| d.batch.unwrap().id)
                .collect()
        };
        assert_eq!(
            ids(d.path().join("one")),
            ids(d.path().join(format!("merged{n}")))
        );
    }
}

#[test]
fn deadline_in_the_past_leaves_everything_pending() {
    let d = tempfile::tempdir().unwrap();
    let inputs = wire(d.path(), 3);
    let r = run_batch(
        &inputs,
        &d.path().join("o"),
        BatchOptions {
            deadline: Some(std::time::SystemTime::UNIX_EPOCH),
            ..Default::default()
        },
    );
    assert!(r.report.deadline_reached);
    assert_eq!(r.report.pending.len(), 4);
    assert_eq!(r.calls, 0);
    assert_eq!(r.outcome, Outcome::SomeFailed);
}

#[test]
fn shard_parsing() {
    assert_eq!(Shard::parse("1/4").unwrap(), Shard { index: 1, count: 4 });
    assert!(Shard::parse("4/4").is_err());
    assert!(Shard::parse("x").is_err());
    let s = Shard { index: 0, count: 1 };
    assert!(s.owns("anything"));
}

/// A generator whose lanes really run at once: each reply takes a moment,
/// and the most requests in flight together is recorded. A prompt that
/// names story 2 gets a reply that is not a digest.
struct Concurrent {
    info: crate::generate::ModelInfo,
    in_flight: AtomicUsize,
    most: AtomicUsize,
    calls: AtomicUsize,
}

impl Concurrent {
    fn new() -> Self {
        Self {
            info: ScriptedGenerator::new(Vec::<String>::new()).info().clone(),
            in_flight: AtomicUsize::new(0),
            most: AtomicUsize::new(0),
            calls: AtomicUsize::new(0),
        }
    }

    fn reply(&self, request: &crate::generate::Request<'_>) -> crate::generate::Generation {
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.most.fetch_max(now, Ordering::SeqCst);
        self.calls.fetch_add(1, Ordering::SeqCst);
        std::thread::sleep(std::time::Duration::from_millis(30));
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        let bad = request
            .messages
            .iter()
            .any(|m| m.content.contains("Story number 2 "));
        crate::generate::Generation {
            text: if bad { "{\"headline\": 1}" } else { DIGEST }.into(),
            prompt_tokens: 10,
            reused_prompt_tokens: 0,
            generated_tokens: 20,
            prompt_secs: 0.0,
            generate_secs: 0.03,
            stop: crate::generate::StopReason::EndOfTurn,
            notes: Vec::new(),
            limits: 0,
        }
    }
}

struct ConcurrentLane<'a>(&'a Concurrent);

impl crate::chunk::TokenCounter for ConcurrentLane<'_> {
    fn count(&self, text: &str) -> usize {
        text.split_whitespace().count()
    }
}

impl Generator for ConcurrentLane<'_> {
    fn info(&self) -> &crate::generate::ModelInfo {
        &self.0.info
    }
    fn prompt_tokens(&self, messages: &[crate::generate::Message]) -> Result<usize> {
        Ok(messages
            .iter()
            .map(|m| crate::chunk::TokenCounter::count(self, &m.content) + 4)
            .sum())
    }
    fn generate(
        &mut self,
        request: &crate::generate::Request<'_>,
    ) -> Result<crate::generate::Generation> {
        Ok(self.0.reply(request))
    }
}

impl crate::chunk::TokenCounter for Concurrent {
    fn count(&self, text: &str) -> usize {
        text.split_whitespace().count()
    }
}

impl Generator for Concurrent {
    fn info(&self) -> &crate::generate::ModelInfo {
        &self.info
    }
    fn prompt_tokens(&self, messages: &[crate::generate::Message]) -> Result<usize> {
        ConcurrentLane(self).prompt_tokens(messages)
    }
    fn generate(
        &mut self,
        request: &crate::generate::Request<'_>,
    ) -> Result<crate::generate::Generation> {
        Ok(self.reply(request))
    }
    fn lanes(
        &mut self,
        n: usize,
        work: &mut dyn FnMut(Vec<crate::generate::Lane<'_>>),
    ) -> Result<()> {
        let me: &Concurrent = self;
        work(
            (0..n)
                .map(|_| Box::new(ConcurrentLane(me)) as crate::generate::Lane<'_>)
                .collect(),
        );
        Ok(())
    }
}

fn run_concurrent(
    inputs: &[String],
    out: &std::path::Path,
    parallel: usize,
) -> (Report, Concurrent) {
    let prompts = Prompts::embedded();
    let summarizer = Summarizer::new(&prompts, SummarizeOptions::default());
    let mut g = Concurrent::new();
    let (items, bad) = collect(inputs, inputs::DEFAULT_GLOB);
    let opts = BatchOptions {
        parallel,
        ..Default::default()
    };
    let (report, _) = run(
        &mut g,
        &summarizer,
        items,
        bad,
        &Store::new(out),
        &opts,
        &mut Progress::new(true),
    )
    .unwrap();
    (report, g)
}

#[test]
fn parallel_lanes_give_the_same_results_as_one_at_a_time() {
    let d = tempfile::tempdir().unwrap();
    let inputs = wire(d.path(), 9);
    let (one, g1) = run_concurrent(&inputs, &d.path().join("one"), 1);
    let (four, g4) = run_concurrent(&inputs, &d.path().join("four"), 4);
    assert_eq!(g1.most.load(Ordering::SeqCst), 1);
    let most = g4.most.load(Ordering::SeqCst);
    assert!(most > 1 && most <= 4, "{most} requests in flight at once");
    assert_eq!(
        g1.calls.load(Ordering::SeqCst),
        g4.calls.load(Ordering::SeqCst)
    );
    // The same items succeed and fail, for the same reasons: the bad reply
    // of story 2 and the empty file fail, and nothing else stops.
    for r in [&one, &four] {
        assert_eq!((r.total, r.succeeded, r.failed.len()), (10, 8, 2));
        assert!(r.pending.is_empty() && !r.interrupted);
    }
    let reasons = |r: &Report| -> Vec<(String, String)> {
        let mut v: Vec<_> = r
            .failed
            .iter()
            .map(|f| (f.id.clone(), f.reason.clone()))
            .collect();
        v.sort();
        v
    };
    assert_eq!(reasons(&one), reasons(&four));
    let digests = |dir: &str| -> Vec<(String, String)> {
        let mut v: Vec<_> = Store::new(d.path().join(dir))
            .digests()
            .into_iter()
            .map(|x| (x.batch.unwrap().id, x.headline))
            .collect();
        v.sort();
        v
    };
    assert_eq!(digests("one"), digests("four"));
    // A rerun with lanes keeps every digest and redoes only the failure.
    let (again, g) = run_concurrent(&inputs, &d.path().join("four"), 4);
    assert_eq!(again.skipped_existing, 8);
    assert_eq!(g.calls.load(Ordering::SeqCst), 1);
}

#[test]
fn more_lanes_than_items_are_not_opened() {
    let d = tempfile::tempdir().unwrap();
    let inputs = wire(d.path(), 1);
    let (r, g) = run_concurrent(&inputs, &d.path().join("o"), 8);
    assert_eq!(r.succeeded, 1);
    assert_eq!(g.most.load(Ordering::SeqCst), 1);
}

#[test]
fn lanes_are_lowered_to_what_fits_the_memory_limit() {
    use crate::generate::LaneMemory;
    let mib = 1u64 << 20;
    // 1,000 MiB of weights and 100 MiB of kept prompt beginnings; 1 MiB
    // per position: a lane of 1,000 positions is counted as 2 × 1,024
    // positions, 2,048 MiB.
    let m = Some(LaneMemory {
        weights_bytes: 1000 * mib,
        kv_bytes_per_position: mib,
        shared_bytes: 100 * mib,
    });
    let fixed = 1100 * mib;
    let lane = 2048 * mib;
    // No limit, or lanes that share one cache: as asked.
    assert_eq!(lanes_within(8, None, m, 1000).unwrap(), (8, None));
    assert_eq!(lanes_within(8, Some(mib), None, 1000).unwrap(), (8, None));
    // Room for three lanes and a half: three, with a note that says why.
    let (lanes, note) = lanes_within(8, Some(fixed + 3 * lane + lane / 2), m, 1000).unwrap();
    assert_eq!(lanes, 3);
    let note = note.unwrap();
    assert!(
        note.contains("--parallel 8 lowered to 3") && note.contains("2048 MiB"),
        "{note}"
    );
    // Room for all that were asked: no note.
    assert_eq!(
        lanes_within(2, Some(fixed + 3 * lane), m, 1000).unwrap(),
        (2, None)
    );
    // The shared part counts once, not per lane: room for two lanes only
    // once it is left out.
    assert_eq!(
        lanes_within(3, Some(1000 * mib + 3 * lane), m, 1000)
            .unwrap()
            .0,
        2
    );
    // Not even one lane: an error that names the option and what is needed.
    let err = lanes_within(4, Some(1500 * mib), m, 1000)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("--max-memory 1500 MiB") && err.contains("3148 MiB"),
        "{err}"
    );
}
