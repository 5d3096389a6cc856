//! `khulasa eval`: quality on data with references. Summarization is scored
//! with ROUGE against reference summaries next to a lead-3 baseline computed
//! in the same run, with the grounding rate, facts per digest, length and
//! time per article.

use std::path::Path;
use std::time::Instant;

use serde::Serialize;

use crate::article;
use crate::error::{Error, Result};
use crate::generate::Generator;
use crate::segment;
use crate::summarize::Summarizer;

pub mod metrics;
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
    /// Mean words in the candidate.
    pub mean_words: f64,
}

fn score(pairs: &[(String, String)]) -> Scores {
    let n = pairs.len().max(1) as f64;
    let mut s = Scores::default();
    for (c, r) in pairs {
        s.rouge1 += metrics::rouge_n(c, r, 1).f1;
        s.rouge2 += metrics::rouge_n(c, r, 2).f1;
        s.rouge_l += metrics::rouge_l(c, r).f1;
        s.mean_words += c.split_whitespace().count() as f64;
    }
    Scores {
        rouge1: 100.0 * s.rouge1 / n,
        rouge2: 100.0 * s.rouge2 / n,
        rouge_l: 100.0 * s.rouge_l / n,
        mean_words: s.mean_words / n,
    }
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
    /// The first three sentences.
    pub lead3: Scores,
    /// Share of key facts judged grounded.
    pub grounding_rate: f64,
    /// Key facts that were unsupported and replaced by a grounded rewrite
    /// from their evidence (counted in `grounding_rate` as grounded).
    pub regenerated_facts: usize,
    /// Share of digests whose every number is in the article.
    pub numbers_grounded_rate: f64,
    /// Mean key facts per digest.
    pub facts_per_digest: f64,
    /// Mean seconds per article.
    pub secs_per_article: f64,
}

/// Summarizes every example and scores it.
pub fn run_summarization(
    g: &mut dyn Generator,
    s: &Summarizer<'_>,
    data: &str,
    examples: &[Example],
    mut progress: impl FnMut(usize, &str),
) -> Result<Report> {
    let mut ours = Vec::new();
    let mut summaries = Vec::new();
    let mut lead = Vec::new();
    let mut report = Report {
        data: data.into(),
        model: g.info().id.clone(),
        ..Default::default()
    };
    let (mut facts, mut grounded, mut numbers_ok) = (0usize, 0usize, 0usize);
    let t0 = Instant::now();
    for (i, ex) in examples.iter().enumerate() {
        progress(i, &ex.id);
        let art = match article::from_bytes(&ex.id, ex.document.as_bytes(), &Default::default()) {
            Ok(a) => a,
            Err(e) => {
                report.failures.push((ex.id.clone(), e.to_string()));
                continue;
            }
        };
        match s.run(g, &art) {
            Ok(d) => {
                let cand = format!("{}\n{}", d.summary, d.key_facts.join("\n"));
                facts += d.key_facts.len();
                grounded += d.fact_checks.iter().filter(|c| c.grounded).count();
                report.regenerated_facts += d
                    .fact_checks
                    .iter()
                    .filter(|c| c.regenerated_from.is_some())
                    .count();
                summaries.push((d.summary.clone(), ex.reference.clone()));
                let all = format!("{}\n{cand}", d.headline);
                numbers_ok +=
                    usize::from(crate::ground::unsupported_numbers(&all, &ex.document).is_empty());
                ours.push((cand, ex.reference.clone()));
                lead.push((lead3(&art.body), ex.reference.clone()));
            }
            Err(Error::Interrupted) => return Err(Error::Interrupted),
            Err(e) => report.failures.push((ex.id.clone(), e.to_string())),
        }
    }
    let done = ours.len();
    report.documents = done;
    report.khulasa = score(&ours);
    report.summary_only = score(&summaries);
    report.lead3 = score(&lead);
    report.grounding_rate = if facts > 0 {
        grounded as f64 / facts as f64
    } else {
        0.0
    };
    report.numbers_grounded_rate = if done > 0 {
        numbers_ok as f64 / done as f64
    } else {
        0.0
    };
    report.facts_per_digest = if done > 0 {
        facts as f64 / done as f64
    } else {
        0.0
    };
    report.secs_per_article = t0.elapsed().as_secs_f64() / examples.len().max(1) as f64;
    Ok(report)
}

/// The report as a table for people.
pub fn table(r: &Report) -> String {
    let row = |name: &str, s: &Scores| {
        format!(
            "{name:<10} {:>8.2} {:>8.2} {:>8.2} {:>10.1}\n",
            s.rouge1, s.rouge2, s.rouge_l, s.mean_words
        )
    };
    let mut t = format!(
        "{} documents from {} with {}\n\n{:<10} {:>8} {:>8} {:>8} {:>10}\n",
        r.documents, r.data, r.model, "system", "ROUGE-1", "ROUGE-2", "ROUGE-L", "words"
    );
    t.push_str(&row("khulasa", &r.khulasa));
    t.push_str(&row("  summary", &r.summary_only));
    t.push_str(&row("lead-3", &r.lead3));
    t.push_str(&format!(
        "\ngrounded facts {:.1}% ({} rewritten from evidence) | digests with every number in the source {:.1}% | {:.2} facts per digest | {:.1} s per article | {} failed\n",
        100.0 * r.grounding_rate,
        r.regenerated_facts,
        100.0 * r.numbers_grounded_rate,
        r.facts_per_digest,
        r.secs_per_article,
        r.failures.len()
    ));
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
    fn reads_the_shared_cnndm_sample() {
        let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/eval/cnndm/articles.csv");
        let ex = load(&p, None).expect("../shared/eval/cnndm/articles.csv is needed");
        assert_eq!(ex.len(), 100);
        assert!(ex
            .iter()
            .all(|e| !e.document.is_empty() && !e.reference.is_empty()));
        let body = crate::article::from_bytes("x", ex[0].document.as_bytes(), &Default::default())
            .unwrap()
            .body;
        assert!(
            lead3(&body).starts_with("The bishop of the Fargo Catholic Diocese"),
            "{}",
            lead3(&body)
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
        let ex = vec![Example { id: "1".into(), document: "Rain fell in Lahore on Monday. Officials shut 12 roads. Schools stayed open. Markets were quiet.".into(), reference: "Rain fell in Lahore. 12 roads were shut.".into() }];
        let r = run_summarization(&mut g, &s, "t", &ex, |_, _| {}).unwrap();
        assert_eq!(r.documents, 1, "{:?}", r.failures);
        assert_eq!(r.regenerated_facts, 1);
        assert_eq!(r.grounding_rate, 1.0);
        assert!(r.summary_only.rouge1 > 0.0);
        assert!(r.khulasa.rouge1 > 50.0 && r.lead3.rouge1 > 30.0);
        assert_eq!(r.numbers_grounded_rate, 1.0);
        assert!(table(&r).contains("lead-3"));
    }
}
