//! `khulasa eval`: quality on data with references. Summarization is scored
//! with ROUGE against reference summaries next to a lead-3 baseline computed
//! in the same run, with the grounding rate, facts per digest, length and
//! time per article.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::article;
use crate::error::{Error, Result};
use crate::generate::Generator;
use crate::segment;
use crate::summarize::Summarizer;

pub mod facts;
pub mod metrics;
pub mod read;
pub mod translation;

/// A document with a reference summary.
#[derive(Debug, Clone)]
pub struct Example {
    /// Id.
    pub id: String,
    /// The article.
    pub document: String,
    /// The reference summary.
    pub reference: String,
}

/// Loads `cnndm` (a CSV with `id`, `article`, `highlights`), or a JSONL of
/// `{"document", "summary"}`.
pub fn load(path: &Path, limit: Option<usize>) -> Result<Vec<Example>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let mut out = if path.extension().is_some_and(|e| e == "csv") {
        parse_csv(&text)
            .into_iter()
            .skip(1)
            .filter(|r| r.len() >= 4)
            .map(|r| Example {
                id: r[1].clone(),
                document: r[2].clone(),
                reference: r[3].clone(),
            })
            .collect::<Vec<_>>()
    } else {
        let mut v = Vec::new();
        for (i, line) in text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
        {
            let j: serde_json::Value =
                serde_json::from_str(line).map_err(|source| Error::Json {
                    what: format!("{}:{}", path.display(), i + 1),
                    source,
                })?;
            let get = |k: &str| j.get(k).and_then(|x| x.as_str()).map(str::to_string);
            let (Some(document), Some(reference)) = (get("document"), get("summary")) else {
                return Err(Error::bad_input(
                    format!("{}:{}", path.display(), i + 1),
                    "each line needs \"document\" and \"summary\" strings",
                ));
            };
            v.push(Example {
                id: get("id").unwrap_or_else(|| (i + 1).to_string()),
                document,
                reference,
            });
        }
        v
    };
    if let Some(n) = limit {
        out.truncate(n);
    }
    Ok(out)
}

/// RFC 4180 CSV: quoted fields with doubled quotes and embedded newlines.
pub fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            ('"', true) => quoted = false,
            ('"', false) if field.is_empty() => quoted = true,
            (',', false) => row.push(std::mem::take(&mut field)),
            ('\n', false) => {
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            ('\r', false) => {}
            _ => field.push(c),
        }
    }
    if !field.is_empty() || !row.is_empty() {
        row.push(field);
        rows.push(row);
    }
    rows
}

/// The first three sentences of a document.
pub fn lead3(document: &str) -> String {
    segment::split(document)
        .iter()
        .take(3)
        .map(|s| s.text)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Scores of one system.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Scores {
    /// ROUGE-1 F1 (mean over documents, ×100).
    pub rouge1: f64,
    /// ROUGE-2 F1.
    pub rouge2: f64,
    /// ROUGE-L F1.
    pub rouge_l: f64,
    /// ROUGE-Lsum F1 (summary-level LCS over sentences, see
    /// [`metrics::rouge_lsum`]).
    #[serde(default)]
    pub rouge_lsum: f64,
    /// Mean words in the candidate.
    pub mean_words: f64,
}

/// The lines of `reference` (one highlight each) of which the summary has
/// less than half the words, joined by newlines.
fn uncovered_lines(summary: &str, reference: &str) -> String {
    reference
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && metrics::rouge_n(summary, l, 1).recall < 0.5)
        .collect::<Vec<_>>()
        .join("\n")
}

/// `text` with one sentence a line, as ROUGE-Lsum reads it: each line
/// split into its sentences.
fn sentence_lines(text: &str) -> String {
    text.lines()
        .flat_map(segment::split)
        .map(|s| s.text)
        .collect::<Vec<_>>()
        .join("\n")
}

/// ROUGE-Lsum between a candidate and a reference, each read as sentences.
fn rouge_lsum(candidate: &str, reference: &str) -> metrics::Prf {
    metrics::rouge_lsum(&sentence_lines(candidate), &sentence_lines(reference))
}

/// The scores (F1 ×100, and the candidate's words) of each pair of
/// candidate and reference.
fn score_each(pairs: &[(String, String)]) -> Vec<Scores> {
    pairs
        .iter()
        .map(|(c, r)| Scores {
            rouge1: 100.0 * metrics::rouge_n(c, r, 1).f1,
            rouge2: 100.0 * metrics::rouge_n(c, r, 2).f1,
            rouge_l: 100.0 * metrics::rouge_l(c, r).f1,
            rouge_lsum: 100.0 * rouge_lsum(c, r).f1,
            mean_words: c.split_whitespace().count() as f64,
        })
        .collect()
}

/// The mean of each score over the pairs.
fn mean(each: &[Scores]) -> Scores {
    let n = each.len().max(1) as f64;
    let sum = |f: fn(&Scores) -> f64| each.iter().map(f).sum::<f64>() / n;
    Scores {
        rouge1: sum(|s| s.rouge1),
        rouge2: sum(|s| s.rouge2),
        rouge_l: sum(|s| s.rouge_l),
        rouge_lsum: sum(|s| s.rouge_lsum),
        mean_words: sum(|s| s.mean_words),
    }
}

fn score(pairs: &[(String, String)]) -> Scores {
    mean(&score_each(pairs))
}

/// The evaluation report.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    /// Data file.
    pub data: String,
    /// Model id.
    pub model: String,
    /// Documents scored.
    pub documents: usize,
    /// Documents that failed (id and reason).
    pub failures: Vec<(String, String)>,
    /// khulasa's digests (summary followed by the key facts).
    pub khulasa: Scores,
    /// khulasa's summary field alone.
    pub summary_only: Scores,
    /// The key facts alone, against the reference lines that the summary
    /// does not cover (less than half of a line's words in the summary):
    /// what the facts add. Articles whose summary covers every line are
    /// left out; `facts_added_documents` counts the rest.
    pub facts_added: Scores,
    /// Articles scored in `facts_added`.
    pub facts_added_documents: usize,
    /// The first three sentences.
    pub lead3: Scores,
    /// The summary's ROUGE-L F1 (×100) with its 95 % bootstrap interval.
    pub summary_rouge_l: metrics::Interval,
    /// The summary's ROUGE-L less lead-3's, article by article (×100), with
    /// its paired 95 % bootstrap interval: an interval above 0 is a gain
    /// that is not noise.
    pub summary_minus_lead3: metrics::Interval,
    /// The same two figures with ROUGE-Lsum, the summary-level ROUGE-L
    /// that CNN/DailyMail results are usually given in: a summary that
    /// states the reference's points in another order is not penalized.
    #[serde(default)]
    pub summary_rouge_lsum: metrics::Interval,
    /// The summary's ROUGE-Lsum less lead-3's, with its paired interval.
    #[serde(default)]
    pub summary_minus_lead3_lsum: metrics::Interval,
    /// Share of key facts judged grounded.
    pub grounding_rate: f64,
    /// Key facts that were unsupported and replaced by a grounded rewrite
    /// from their evidence (counted in `grounding_rate` as grounded).
    pub regenerated_facts: usize,
    /// Share of digests whose every number is in the article.
    pub numbers_grounded_rate: f64,
    /// Mean key facts per digest.
    pub facts_per_digest: f64,
    /// Mean seconds per digested article, each timed from its start to its
    /// digest (with several lanes, other articles ran meanwhile).
    pub secs_per_article: f64,
    /// Articles in flight at once in this run.
    #[serde(default)]
    pub parallel: usize,
    /// Wall-clock seconds of this run per article it digested (the
    /// throughput figure when `parallel` is above 1); `None` when every
    /// result came from an earlier run.
    #[serde(default)]
    pub wall_secs_per_article: Option<f64>,
    /// Share of prompt tokens taken from an earlier pass's KV cache (the
    /// shared system prompt and instructions) instead of computed.
    pub reused_prompt_share: f64,
}

/// What one article gave: kept per line in the results file, so that an
/// interrupted evaluation resumes where it stopped.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ArticleResult {
    /// Example id.
    pub id: String,
    /// Why the article failed (the other fields are then empty).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The digest's headline.
    pub headline: String,
    /// The digest's summary.
    pub summary: String,
    /// The digest's key facts.
    pub key_facts: Vec<String>,
    /// Key facts judged grounded.
    pub grounded: usize,
    /// Key facts rewritten from their evidence.
    pub regenerated: usize,
    /// Whether every number of headline, summary and facts is in the article.
    pub numbers_ok: bool,
    /// The digest's warnings.
    pub warnings: Vec<String>,
    /// Seconds for this article.
    pub secs: f64,
    /// Prompt tokens over its passes.
    #[serde(default)]
    pub prompt_tokens: usize,
    /// Of those, tokens reused from an earlier pass's KV cache.
    #[serde(default)]
    pub reused_prompt_tokens: usize,
    /// The candidates the summary was chosen from (`--candidates`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selection: Option<crate::summarize::select::Selection>,
}

/// Whether every number of a digest's headline, summary and facts is in
/// the article `document`.
fn numbers_in_source(headline: &str, summary: &str, facts: &[String], document: &str) -> bool {
    let all = format!("{headline}\n{summary}\n{}", facts.join("\n"));
    crate::ground::unsupported_numbers(&all, document).is_empty()
}

/// Reads the results file of an earlier run (missing file: none). An
/// article with several lines (a failure, then a retry) keeps its last.
pub fn read_results(path: &Path) -> Result<Vec<ArticleResult>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io(path, e)),
    };
    let mut results: Vec<ArticleResult> = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let r: ArticleResult = serde_json::from_str(line).map_err(|source| Error::Json {
            what: format!(
                "{} (a results line; delete the file to start over)",
                path.display()
            ),
            source,
        })?;
        results.retain(|old| old.id != r.id);
        results.push(r);
    }
    Ok(results)
}

/// Summarizes every example that has no successful result in `done`
/// (results of an earlier run, which count as they are; failed articles are
/// tried again) and scores all of them. Each new result is passed to
/// `on_result` as soon as it is known. `parallel` articles are in flight at
/// once, as in `khulasa batch --parallel` (1: one at a time, in order).
#[allow(clippy::too_many_arguments)]
pub fn run_summarization(
    g: &mut dyn Generator,
    s: &Summarizer<'_>,
    data: &str,
    examples: &[Example],
    done: Vec<ArticleResult>,
    parallel: usize,
    progress: impl FnMut(usize, &str) + Send,
    on_result: impl FnMut(&ArticleResult) -> Result<()> + Send,
) -> Result<Report> {
    let t0 = Instant::now();
    let results: Vec<ArticleResult> = done.into_iter().filter(|r| r.error.is_none()).collect();
    let todo: Vec<usize> = (0..examples.len())
        .filter(|&i| !results.iter().any(|r| r.id == examples[i].id))
        .collect();
    let shared = Mutex::new(Shared {
        results,
        progress,
        on_result,
        error: None,
    });
    let next = AtomicUsize::new(0);
    // One lane's work: the next example not yet taken, until none is left
    // or a lane has stopped the run (interrupted, or the results file
    // failed).
    let lane = |g: &mut dyn Generator| loop {
        let Some(&i) = todo.get(next.fetch_add(1, Ordering::Relaxed)) else {
            return;
        };
        let ex = &examples[i];
        {
            let mut sh = lock(&shared);
            if sh.error.is_some() {
                return;
            }
            (sh.progress)(i, &ex.id);
        }
        let r = match summarize_one(g, s, ex) {
            Ok(r) => r,
            Err(e) => {
                lock(&shared).error.get_or_insert(e);
                return;
            }
        };
        let mut sh = lock(&shared);
        if let Err(e) = (sh.on_result)(&r) {
            sh.error.get_or_insert(e);
            return;
        }
        sh.results.push(r);
    };
    let lanes = parallel.clamp(1, todo.len().max(1));
    crate::generate::run_lanes(g, lanes, &lane)?;
    let sh = shared.into_inner().unwrap_or_else(PoisonError::into_inner);
    if let Some(e) = sh.error {
        return Err(e);
    }
    let mut rep = report(data, &g.info().id, examples, &sh.results);
    rep.parallel = lanes;
    rep.wall_secs_per_article =
        (!todo.is_empty()).then(|| t0.elapsed().as_secs_f64() / todo.len() as f64);
    Ok(rep)
}

/// What the lanes of [`run_summarization`] share.
struct Shared<P, R> {
    results: Vec<ArticleResult>,
    progress: P,
    on_result: R,
    /// What stopped the run: an interruption or a results-file error.
    error: Option<Error>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// One example's digest and checks; an article that fails becomes a result
/// with its error. Only an interruption is an error here.
fn summarize_one(g: &mut dyn Generator, s: &Summarizer<'_>, ex: &Example) -> Result<ArticleResult> {
    let t0 = Instant::now();
    let digest = article::from_bytes(&ex.id, ex.document.as_bytes(), &Default::default())
        .and_then(|art| s.run(g, &art));
    Ok(match digest {
        Ok(d) => {
            let numbers_ok = numbers_in_source(&d.headline, &d.summary, &d.key_facts, &ex.document);
            ArticleResult {
                id: ex.id.clone(),
                error: None,
                grounded: d
                    .fact_checks
                    .iter()
                    .filter(|c| c.grounded && c.field == crate::ground::Field::KeyFact)
                    .count(),
                regenerated: d
                    .fact_checks
                    .iter()
                    .filter(|c| c.regenerated_from.is_some())
                    .count(),
                numbers_ok,
                headline: d.headline,
                summary: d.summary,
                key_facts: d.key_facts,
                warnings: d.warnings,
                secs: t0.elapsed().as_secs_f64(),
                prompt_tokens: d.timings.prompt_tokens,
                reused_prompt_tokens: d.timings.reused_prompt_tokens,
                selection: d.selection,
            }
        }
        Err(Error::Interrupted) => return Err(Error::Interrupted),
        Err(e) => ArticleResult {
            id: ex.id.clone(),
            error: Some(e.to_string()),
            ..Default::default()
        },
    })
}

/// Scores the results of `examples` (results of other ids are ignored).
pub fn report(data: &str, model: &str, examples: &[Example], results: &[ArticleResult]) -> Report {
    let mut rep = Report {
        data: data.into(),
        model: model.into(),
        ..Default::default()
    };
    let (mut ours, mut summaries, mut lead) = (Vec::new(), Vec::new(), Vec::new());
    let mut added = Vec::new();
    let (mut facts, mut grounded, mut numbers_ok, mut secs) = (0usize, 0usize, 0usize, 0.0);
    let (mut prompt, mut reused) = (0usize, 0usize);
    for ex in examples {
        let Some(r) = results.iter().find(|r| r.id == ex.id) else {
            continue;
        };
        if let Some(e) = &r.error {
            rep.failures.push((r.id.clone(), e.clone()));
            continue;
        }
        ours.push((
            format!("{}\n{}", r.summary, r.key_facts.join("\n")),
            ex.reference.clone(),
        ));
        summaries.push((r.summary.clone(), ex.reference.clone()));
        let uncovered = uncovered_lines(&r.summary, &ex.reference);
        if !uncovered.is_empty() {
            added.push((r.key_facts.join("\n"), uncovered));
        }
        let body = article::from_bytes(&ex.id, ex.document.as_bytes(), &Default::default())
            .map(|a| a.body)
            .unwrap_or_else(|_| ex.document.clone());
        lead.push((lead3(&body), ex.reference.clone()));
        facts += r.key_facts.len();
        grounded += r.grounded;
        rep.regenerated_facts += r.regenerated;
        // Checked again with the current number check, so that a resumed
        // run scores every article alike.
        numbers_ok += usize::from(numbers_in_source(
            &r.headline,
            &r.summary,
            &r.key_facts,
            &ex.document,
        ));
        secs += r.secs;
        prompt += r.prompt_tokens;
        reused += r.reused_prompt_tokens;
    }
    let done = ours.len();
    let share = |n: usize, d: usize| if d > 0 { n as f64 / d as f64 } else { 0.0 };
    rep.documents = done;
    rep.khulasa = score(&ours);
    let summary_each = score_each(&summaries);
    rep.summary_only = mean(&summary_each);
    rep.facts_added = score(&added);
    rep.facts_added_documents = added.len();
    let lead_each = score_each(&lead);
    rep.lead3 = mean(&lead_each);
    let of = |each: &[Scores], f: fn(&Scores) -> f64| each.iter().map(f).collect::<Vec<_>>();
    let (ours_l, lead_l) = (
        of(&summary_each, |s| s.rouge_l),
        of(&lead_each, |s| s.rouge_l),
    );
    let (ours_lsum, lead_lsum) = (
        of(&summary_each, |s| s.rouge_lsum),
        of(&lead_each, |s| s.rouge_lsum),
    );
    let interval = |v: &[f64]| metrics::bootstrap(v, metrics::BOOTSTRAP_RESAMPLES);
    let less =
        |a: &[f64], b: &[f64]| interval(&a.iter().zip(b).map(|(a, b)| a - b).collect::<Vec<_>>());
    rep.summary_rouge_l = interval(&ours_l);
    rep.summary_minus_lead3 = less(&ours_l, &lead_l);
    rep.summary_rouge_lsum = interval(&ours_lsum);
    rep.summary_minus_lead3_lsum = less(&ours_lsum, &lead_lsum);
    rep.grounding_rate = share(grounded, facts);
    rep.numbers_grounded_rate = share(numbers_ok, done);
    rep.facts_per_digest = share(facts, done);
    rep.secs_per_article = if done > 0 { secs / done as f64 } else { 0.0 };
    rep.reused_prompt_share = share(reused, prompt);
    rep
}

/// The report as a table for people.
pub fn table(r: &Report) -> String {
    let row = |name: &str, s: &Scores| {
        format!(
            "{name:<10} {:>8.2} {:>8.2} {:>8.2} {:>10.2} {:>8.1}\n",
            s.rouge1, s.rouge2, s.rouge_l, s.rouge_lsum, s.mean_words
        )
    };
    let mut t = format!(
        "{} documents from {} with {}\n\n{:<10} {:>8} {:>8} {:>8} {:>10} {:>8}\n",
        r.documents,
        r.data,
        r.model,
        "system",
        "ROUGE-1",
        "ROUGE-2",
        "ROUGE-L",
        "ROUGE-Lsum",
        "words"
    );
    t.push_str(&row("khulasa", &r.khulasa));
    t.push_str(&row("  summary", &r.summary_only));
    t.push_str(&row("  facts*", &r.facts_added));
    t.push_str(&row("lead-3", &r.lead3));
    t.push_str(&format!(
        "* the key facts against the reference lines the summary leaves out ({} articles)\n",
        r.facts_added_documents
    ));
    let (s, d) = (r.summary_rouge_l, r.summary_minus_lead3);
    t.push_str(&format!(
        "\nsummary ROUGE-L {:.2} (95% interval {:.2} to {:.2}); summary less lead-3, article by article: {:+.2} ({:+.2} to {:+.2})\n",
        s.mean, s.low, s.high, d.mean, d.low, d.high
    ));
    let (s, d) = (r.summary_rouge_lsum, r.summary_minus_lead3_lsum);
    t.push_str(&format!(
        "summary ROUGE-Lsum {:.2} (95% interval {:.2} to {:.2}); summary less lead-3: {:+.2} ({:+.2} to {:+.2})\n",
        s.mean, s.low, s.high, d.mean, d.low, d.high
    ));
    t.push_str(&format!(
        "\ngrounded facts {:.1}% ({} rewritten from evidence) | digests with every number in the source {:.1}% | {:.2} facts per digest | {:.1} s per article ({:.0}% of prompt tokens reused) | {} failed\n",
        100.0 * r.grounding_rate,
        r.regenerated_facts,
        100.0 * r.numbers_grounded_rate,
        r.facts_per_digest,
        r.secs_per_article,
        100.0 * r.reused_prompt_share,
        r.failures.len()
    ));
    if let (Some(wall), true) = (r.wall_secs_per_article, r.parallel > 1) {
        t.push_str(&format!(
            "{} articles in flight: {wall:.1} s of wall time per article\n",
            r.parallel
        ));
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_with_quotes_and_newlines() {
        let rows = parse_csv("a,b\n1,\"x, \"\"y\"\"\nz\"\n");
        assert_eq!(rows, vec![vec!["a", "b"], vec!["1", "x, \"y\"\nz"]]);
    }

    #[test]
    fn reads_a_cnndm_layout_csv_and_takes_the_lead() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("articles.csv");
        std::fs::write(
            &p,
            ",id,article,highlights\n\
0,a1,\"By . Staff . PUBLISHED: . 14:11 EST, 25 October 2013 . | . Heavy rain closed 12 roads in Lahore on Monday. Officials said more rain was due. Schools stayed shut, the city said. Traffic was slow.\",\"Rain closed 12 roads in Lahore.\nSchools stayed shut.\"\n\
1,a2,\"A second, \"\"quoted\"\" article about floods in Swat on Sunday.\",Floods hit Swat.\n",
        )
        .unwrap();
        let ex = load(&p, None).unwrap();
        assert_eq!(ex.len(), 2);
        assert_eq!(ex[1].id, "a2");
        assert!(ex[1].document.contains("\"quoted\""));
        assert_eq!(
            ex[0].reference,
            "Rain closed 12 roads in Lahore.\nSchools stayed shut."
        );
        let body = crate::article::from_bytes("x", ex[0].document.as_bytes(), &Default::default())
            .unwrap()
            .body;
        assert_eq!(
            lead3(&body),
            "Heavy rain closed 12 roads in Lahore on Monday. Officials said more rain was due. Schools stayed shut, the city said."
        );
    }

    #[test]
    fn scripted_eval_scores_and_compares_with_lead3() {
        use crate::generate::ScriptedGenerator;
        let reply = r#"{"headline": "Rain in Lahore", "summary": "Rain fell in Lahore on Monday.", "key_facts": ["Rain fell in Lahore.", "Roads closed on Monday.", "12 roads were shut."]}"#;
        // The second reply rewrites the one fact the article does not support.
        let mut g = ScriptedGenerator::new(vec![
            reply.to_string(),
            "Officials shut 12 roads on Monday.".to_string(),
        ]);
        let prompts = crate::prompt::Prompts::embedded();
        let s = Summarizer::new(&prompts, Default::default());
        let ex = vec![Example { id: "1".into(), document: "Rain fell in Lahore on Monday. Officials shut 12 roads. Schools stayed open. Markets were quiet.".into(), reference: "Rain fell in Lahore.\n12 roads were shut.".into() }];
        let mut lines = Vec::new();
        let r = run_summarization(
            &mut g,
            &s,
            "t",
            &ex,
            Vec::new(),
            1,
            |_, _| {},
            |r| {
                lines.push(r.clone());
                Ok(())
            },
        )
        .unwrap();
        assert_eq!(r.documents, 1, "{:?}", r.failures);
        assert_eq!(r.regenerated_facts, 1);
        assert_eq!(r.grounding_rate, 1.0);
        assert!(r.summary_only.rouge1 > 0.0);
        assert!(r.khulasa.rouge1 > 50.0 && r.lead3.rouge1 > 30.0);
        assert_eq!(r.numbers_grounded_rate, 1.0);
        assert!(table(&r).contains("lead-3"));
        // One article: the interval is its score, and the paired difference
        // is the summary's ROUGE-L less lead-3's.
        let s = r.summary_rouge_l;
        assert!((s.mean - r.summary_only.rouge_l).abs() < 1e-9 && s.low == s.high);
        let d = r.summary_minus_lead3.mean;
        assert!((d - (r.summary_only.rouge_l - r.lead3.rouge_l)).abs() < 1e-9);
        assert!(table(&r).contains("summary less lead-3"));
        // The summary leaves out the second line; the facts state it.
        assert_eq!(r.facts_added_documents, 1);
        assert!(r.facts_added.rouge1 > 30.0, "{:?}", r.facts_added);
    }

    #[test]
    fn reference_lines_the_summary_leaves_out() {
        let reference = "Rain fell in Lahore .\nOfficials shut 12 roads .\n\nSchools stayed open .";
        assert_eq!(
            uncovered_lines("Rain fell in Lahore, and schools stayed open.", reference),
            "Officials shut 12 roads ."
        );
        assert_eq!(
            uncovered_lines(
                "Rain fell. Officials shut 12 roads. Schools stayed open.",
                reference
            ),
            ""
        );
    }

    #[test]
    fn resumed_run_skips_done_articles_and_scores_them_all() {
        use crate::generate::ScriptedGenerator;
        let reply = r#"{"headline": "Rain in Lahore", "summary": "Rain fell in Lahore on Monday.", "key_facts": ["Rain fell in Lahore on Monday.", "Officials shut 12 roads.", "Schools stayed open."]}"#;
        let doc = "Rain fell in Lahore on Monday. Officials shut 12 roads. Schools stayed open. Markets were quiet.";
        let ex: Vec<Example> = ["a", "b"]
            .iter()
            .map(|id| Example {
                id: id.to_string(),
                document: doc.into(),
                reference: "Rain fell in Lahore. 12 roads were shut.".into(),
            })
            .collect();
        let prompts = crate::prompt::Prompts::embedded();
        let s = Summarizer::new(&prompts, Default::default());
        // One run over `examples` with the results `done` of an earlier run:
        // the report, the ids the model was asked about, the new results and
        // the number of model calls.
        let run = |examples: &[Example], done: Vec<ArticleResult>| {
            let mut g = ScriptedGenerator::new(vec![reply.to_string()]);
            let (mut asked, mut new) = (Vec::new(), Vec::new());
            let r = run_summarization(
                &mut g,
                &s,
                "t",
                examples,
                done,
                1,
                |_, id| asked.push(id.to_string()),
                |r| {
                    new.push(r.clone());
                    Ok(())
                },
            )
            .unwrap();
            (r, asked, new, g.seen.len())
        };
        // A first run that got through article "a" only.
        let (r, _, first, _) = run(&ex[..1], Vec::new());
        assert_eq!((r.documents, first.len()), (1, 1));
        // The line round-trips through JSON.
        let line = serde_json::to_string(&first[0]).unwrap();
        let back = || serde_json::from_str::<ArticleResult>(&line).unwrap();
        assert_eq!(back().summary, "Rain fell in Lahore on Monday.");
        // The rerun asks the model about "b" only and scores both.
        let (r, asked, new, calls) = run(&ex, vec![back()]);
        assert_eq!(asked, vec!["b".to_string()]);
        assert_eq!(new.len(), 1);
        assert_eq!(new[0].id, "b");
        assert_eq!(calls, 1);
        assert_eq!(r.documents, 2);
        assert_eq!(r.grounding_rate, 1.0);
        // An article that failed in the earlier run is tried again.
        let failed = ArticleResult {
            id: "b".into(),
            error: Some("the model ran out of memory".into()),
            ..Default::default()
        };
        let (r, asked, _, _) = run(&ex, vec![back(), failed]);
        assert_eq!(asked, vec!["b".to_string()]);
        assert_eq!((r.documents, r.failures.len()), (2, 0));
    }

    #[test]
    fn report_checks_numbers_again_with_the_current_check() {
        let doc = "The club paid £8million for the striker. Officials shut 12 roads.";
        let ex: Vec<Example> = ["a", "b"]
            .iter()
            .map(|id| Example {
                id: id.to_string(),
                document: doc.into(),
                reference: "The club paid £8million.".into(),
            })
            .collect();
        let stored = |id: &str, summary: &str, numbers_ok: bool| ArticleResult {
            id: id.into(),
            summary: summary.into(),
            numbers_ok,
            ..Default::default()
        };
        // Stored by an older check: "£8 million" flagged, "15 roads" passed.
        let results = vec![
            stored("a", "The club paid £8 million for the striker.", false),
            stored("b", "Officials shut 15 roads.", true),
        ];
        let r = report("t", "m", &ex, &results);
        assert_eq!(r.documents, 2);
        assert_eq!(r.numbers_grounded_rate, 0.5);
        let only_a = report("t", "m", &ex[..1], &results);
        assert_eq!(only_a.numbers_grounded_rate, 1.0);
    }

    #[test]
    fn several_lanes_score_every_article_as_one_lane_does() {
        use crate::generate::ScriptedGenerator;
        let reply = r#"{"headline": "Rain in Lahore", "summary": "Rain fell in Lahore on Monday.", "key_facts": ["Rain fell in Lahore on Monday.", "Officials shut 12 roads.", "Markets were quiet."]}"#;
        let ex: Vec<Example> = (0..5)
            .map(|i| Example {
                id: format!("a{i}"),
                document: format!("Rain fell in Lahore on Monday. Officials shut 12 roads. Item {i}. Markets were quiet."),
                reference: "Rain fell in Lahore. 12 roads were shut.".into(),
            })
            .collect();
        let prompts = crate::prompt::Prompts::embedded();
        let s = Summarizer::new(&prompts, Default::default());
        let run = |parallel: usize| {
            let mut g = ScriptedGenerator::new(vec![reply.to_string(); ex.len()]);
            let mut written = Vec::new();
            let r = run_summarization(
                &mut g,
                &s,
                "t",
                &ex,
                Vec::new(),
                parallel,
                |_, _| {},
                |r| {
                    written.push(r.id.clone());
                    Ok(())
                },
            )
            .unwrap();
            written.sort();
            (r, written)
        };
        let (one, _) = run(1);
        let (three, written) = run(3);
        assert_eq!(written, ["a0", "a1", "a2", "a3", "a4"]);
        assert_eq!(
            (one.documents, three.documents),
            (5, 5),
            "{:?}",
            one.failures
        );
        assert_eq!(one.summary_only.rouge_l, three.summary_only.rouge_l);
        assert_eq!(one.khulasa.rouge1, three.khulasa.rouge1);
        assert_eq!(one.grounding_rate, three.grounding_rate);
        assert_eq!((one.parallel, three.parallel), (1, 3));
        assert!(three.wall_secs_per_article.is_some());
        assert!(table(&three).contains("3 articles in flight"));
        assert!(!table(&one).contains("in flight"));
    }

    #[test]
    fn a_results_file_error_stops_every_lane_and_is_returned() {
        use crate::generate::ScriptedGenerator;
        let reply = r#"{"headline": "Rain", "summary": "Rain fell in Lahore.", "key_facts": ["Rain fell in Lahore.", "Roads were shut.", "Schools stayed open."]}"#;
        let ex: Vec<Example> = (0..8)
            .map(|i| Example {
                id: format!("a{i}"),
                document: "Rain fell in Lahore. Roads were shut. Schools stayed open.".into(),
                reference: "Rain fell in Lahore.".into(),
            })
            .collect();
        let prompts = crate::prompt::Prompts::embedded();
        let s = Summarizer::new(&prompts, Default::default());
        let mut g = ScriptedGenerator::new(vec![reply.to_string(); ex.len()]);
        let mut asked = 0;
        let err = run_summarization(
            &mut g,
            &s,
            "t",
            &ex,
            Vec::new(),
            2,
            |_, _| asked += 1,
            |_| {
                Err(Error::io(
                    Path::new("results.jsonl"),
                    std::io::Error::other("disk full"),
                ))
            },
        )
        .unwrap_err();
        assert!(err.to_string().contains("results.jsonl"), "{err}");
        // The lane whose result failed stops at once, the other after the
        // article it had started.
        assert!(asked <= 2, "{asked} articles were started");
    }

    #[test]
    fn the_last_line_of_an_article_counts() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("r.jsonl");
        let line = |id: &str, error: Option<&str>| {
            serde_json::to_string(&ArticleResult {
                id: id.into(),
                error: error.map(String::from),
                ..Default::default()
            })
            .unwrap()
        };
        let text = [
            line("a", Some("interrupted")),
            line("b", None),
            line("a", None),
        ]
        .join("\n");
        std::fs::write(&p, text).unwrap();
        let got = read_results(&p).unwrap();
        let ids: Vec<(&str, bool)> = got
            .iter()
            .map(|r| (r.id.as_str(), r.error.is_none()))
            .collect();
        assert_eq!(ids, vec![("b", true), ("a", true)]);
    }

    #[test]
    fn results_file_errors_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("r.jsonl");
        assert!(read_results(&p).unwrap().is_empty());
        std::fs::write(&p, "not json\n").unwrap();
        let e = read_results(&p).unwrap_err().to_string();
        assert!(
            e.contains("r.jsonl") && e.contains("delete the file"),
            "{e}"
        );
    }
}
