//! `khulasa eval --task facts`: the meaning check on labelled (article,
//! claim) pairs. Each claim gets its evidence from the article, the lexical
//! checks and (with a model) the yes/no judgement; the report gives the
//! balanced accuracy, the recall per corruption kind, the false-alarm rate,
//! the time per claim and how the judge's threshold moves them.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::generate::Generator;
use crate::ground::{self, meaning, Verdict};
use crate::prompt::Prompts;

/// One labelled pair: `{"article", "claim", "label"?, "kind"?, "id"?}`.
#[derive(Debug, Clone, Deserialize)]
pub struct ClaimExample {
    /// Id (the line number when absent).
    #[serde(default)]
    pub id: Option<String>,
    /// The article text.
    pub article: String,
    /// The claim to check.
    pub claim: String,
    /// "supported" (or `true`, "correct"), anything else is a corrupted claim.
    #[serde(default)]
    pub label: Option<serde_json::Value>,
    /// How the claim was made: copy, compression, entity_swap, negation, ...
    #[serde(default)]
    pub kind: Option<String>,
}

impl ClaimExample {
    /// True for a correct claim, false for a corrupted one, `None` unlabelled.
    pub fn correct(&self) -> Option<bool> {
        match self.label.as_ref()? {
            serde_json::Value::Bool(b) => Some(*b),
            serde_json::Value::String(s) => Some(matches!(
                s.to_lowercase().as_str(),
                "supported" | "correct" | "true" | "yes" | "consistent"
            )),
            serde_json::Value::Number(n) => Some(n.as_f64() == Some(1.0)),
            _ => None,
        }
    }
}

/// Loads a JSONL of claims; a bad line is an error naming the file and line.
pub fn load(path: &Path, limit: Option<usize>) -> Result<Vec<ClaimExample>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let mut ex: ClaimExample = serde_json::from_str(line).map_err(|e| {
            Error::bad_input(
                format!("{}:{}", path.display(), i + 1),
                format!(
                    "not a claim line ({e}); each line is {{\"article\", \"claim\", \"label\"}}"
                ),
            )
        })?;
        ex.id.get_or_insert_with(|| (i + 1).to_string());
        out.push(ex);
        if limit.is_some_and(|l| out.len() >= l) {
            break;
        }
    }
    if out.is_empty() {
        return Err(Error::bad_input(
            path.display().to_string(),
            "holds no claims; give a JSONL of {\"article\", \"claim\", \"label\"}",
        ));
    }
    Ok(out)
}

/// The check of one claim, as written to `--results`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClaimResult {
    /// Id of the pair.
    pub id: String,
    /// The claim.
    pub claim: String,
    /// The verdict.
    pub verdict: Verdict,
    /// The judge's log-odds of "yes", when it ran.
    pub score: Option<f32>,
    /// Why.
    pub reason: String,
    /// The label, when the pair has one (true: correct claim).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub correct: Option<bool>,
    /// How the claim was made, when the data says.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// The evidence sentences found for it.
    pub evidence: Vec<String>,
    /// Seconds spent on it.
    pub secs: f64,
}

/// Checks every claim; `judge` is the model and prompts for the yes/no
/// judgement, or `None` for the lexical checks alone.
pub fn run(
    examples: &[ClaimExample],
    mut judge: Option<(&mut dyn Generator, &Prompts)>,
    mut progress: impl FnMut(usize),
) -> Result<Vec<ClaimResult>> {
    let mut out = Vec::with_capacity(examples.len());
    for (i, ex) in examples.iter().enumerate() {
        if crate::batch::stop_requested() {
            return Err(Error::Interrupted);
        }
        progress(i);
        let t0 = Instant::now();
        let mut checks = ground::check_facts(std::slice::from_ref(&ex.claim), &ex.article);
        if let Some((g, prompts)) = judge.as_mut() {
            ground::judge(&mut checks, &mut **g, prompts)?;
        }
        let c = checks.remove(0);
        out.push(ClaimResult {
            id: ex.id.clone().unwrap_or_default(),
            claim: c.fact,
            verdict: c.verdict,
            score: c.score,
            reason: c.reason,
            correct: ex.correct(),
            kind: ex.kind.clone(),
            evidence: c.evidence,
            secs: t0.elapsed().as_secs_f64(),
        });
    }
    Ok(out)
}

/// Claims of one kind and how many of them the check flagged.
#[derive(Debug, Clone, Default, Serialize)]
pub struct KindScore {
    /// Claims of this kind.
    pub claims: usize,
    /// Of them, flagged unsupported or contradicted.
    pub flagged: usize,
}

/// Balanced accuracy and false alarms at one judge threshold.
#[derive(Debug, Clone, Serialize)]
pub struct ThresholdPoint {
    /// Log-odds of "yes" below which the judge's doubt counts.
    pub threshold: f32,
    /// Mean of the recall on correct and on corrupted claims.
    pub balanced_accuracy: f64,
    /// Correct claims flagged, as a share.
    pub false_alarm_rate: f64,
    /// Corrupted claims flagged, as a share.
    pub corrupted_recall: f64,
}

/// The report of `eval --task facts`.
#[derive(Debug, Clone, Serialize)]
pub struct FactsReport {
    /// The data file.
    pub data: String,
    /// The judge model, or "none" for the lexical checks alone.
    pub judge: String,
    /// Claims checked.
    pub claims: usize,
    /// Of them, labelled.
    pub labelled: usize,
    /// Of them, scored by the judge.
    pub judged: usize,
    /// Results at the built-in threshold ([`meaning::JUDGE_THRESHOLD`]).
    pub at_threshold: ThresholdPoint,
    /// Flagged per kind of claim (correct kinds: their false alarms).
    pub by_kind: BTreeMap<String, KindScore>,
    /// Verdicts given.
    pub verdicts: BTreeMap<String, usize>,
    /// Mean seconds per claim.
    pub secs_per_claim: f64,
    /// The same results at other thresholds (judged runs only).
    pub sweep: Vec<ThresholdPoint>,
}

/// Scores `results`, re-deciding each judged claim at other thresholds.
pub fn report(data: &str, judge: &str, results: &[ClaimResult]) -> FactsReport {
    let labelled: Vec<&ClaimResult> = results.iter().filter(|r| r.correct.is_some()).collect();
    let findings: Vec<Vec<meaning::Finding>> = labelled
        .iter()
        .map(|r| meaning::lexical(&r.claim, &r.evidence))
        .collect();
    let point = |t: f32| {
        let flagged = |i: usize, r: &ClaimResult| {
            if t == meaning::JUDGE_THRESHOLD || r.score.is_none() {
                return r.verdict != Verdict::Supported;
            }
            // A verdict that the words alone gave stands at any threshold.
            let (v, _) = meaning::verdict_at(&findings[i], r.score, t);
            v != Verdict::Supported || r.evidence.is_empty()
        };
        let (mut pos, mut neg, mut fa, mut hit) = (0usize, 0usize, 0usize, 0usize);
        for (i, r) in labelled.iter().enumerate() {
            let f = flagged(i, r);
            if r.correct == Some(true) {
                pos += 1;
                fa += f as usize;
            } else {
                neg += 1;
                hit += f as usize;
            }
        }
        let share = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
        ThresholdPoint {
            threshold: t,
            balanced_accuracy: (1.0 - share(fa, pos) + share(hit, neg)) / 2.0,
            false_alarm_rate: share(fa, pos),
            corrupted_recall: share(hit, neg),
        }
    };
    let mut by_kind: BTreeMap<String, KindScore> = BTreeMap::new();
    let mut verdicts: BTreeMap<String, usize> = BTreeMap::new();
    for r in results {
        let k = r.kind.clone().unwrap_or_else(|| match r.correct {
            Some(true) => "correct".into(),
            Some(false) => "corrupted".into(),
            None => "unlabelled".into(),
        });
        let e = by_kind.entry(k).or_default();
        e.claims += 1;
        e.flagged += (r.verdict != Verdict::Supported) as usize;
        let v = serde_json::to_value(r.verdict).ok();
        let v = v
            .as_ref()
            .and_then(|v| v.as_str())
            .unwrap_or("?")
            .to_string();
        *verdicts.entry(v).or_default() += 1;
    }
    let judged = results.iter().filter(|r| r.score.is_some()).count();
    let sweep = if judged > 0 {
        (-8..=8).map(|t| point(t as f32 * 0.5)).collect()
    } else {
        Vec::new()
    };
    let secs: f64 = results.iter().map(|r| r.secs).sum();
    FactsReport {
        data: data.to_string(),
        judge: judge.to_string(),
        claims: results.len(),
        labelled: labelled.len(),
        judged,
        at_threshold: point(meaning::JUDGE_THRESHOLD),
        by_kind,
        verdicts,
        secs_per_claim: if results.is_empty() {
            0.0
        } else {
            secs / results.len() as f64
        },
        sweep,
    }
}

/// The report as a table for the terminal.
pub fn table(r: &FactsReport) -> String {
    let p = &r.at_threshold;
    let mut s = format!(
        "{} claims from {} ({} labelled, {} judged by {})\n\
         balanced accuracy {:.1} %   corrupted claims flagged {:.1} %   false alarms {:.1} %   {:.3} s per claim\n\n\
         {:<14} {:>7} {:>8}\n",
        r.claims,
        r.data,
        r.labelled,
        r.judged,
        r.judge,
        p.balanced_accuracy * 100.0,
        p.corrupted_recall * 100.0,
        p.false_alarm_rate * 100.0,
        r.secs_per_claim,
        "kind",
        "claims",
        "flagged"
    );
    for (k, v) in &r.by_kind {
        s.push_str(&format!(
            "{:<14} {:>7} {:>7.1}%\n",
            k,
            v.claims,
            100.0 * v.flagged as f64 / v.claims.max(1) as f64
        ));
    }
    if !r.sweep.is_empty() {
        s.push_str("\nthreshold  balanced  flagged  false alarms\n");
        for t in &r.sweep {
            s.push_str(&format!(
                "{:>9.1} {:>8.1}% {:>7.1}% {:>12.1}%\n",
                t.threshold,
                t.balanced_accuracy * 100.0,
                t.corrupted_recall * 100.0,
                t.false_alarm_rate * 100.0
            ));
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generate::ScriptedGenerator;

    const ART: &str = "Flash floods killed 30 people in Swat on Sunday. \
        The chief minister ordered an emergency response after the floods.";

    fn ex(claim: &str, label: &str, kind: &str) -> ClaimExample {
        ClaimExample {
            id: None,
            article: ART.into(),
            claim: claim.into(),
            label: Some(serde_json::Value::String(label.into())),
            kind: Some(kind.into()),
        }
    }

    #[test]
    fn lexical_run_scores_kinds_and_false_alarms() {
        let data = [
            ex(
                "Flash floods killed 30 people in Swat on Sunday.",
                "supported",
                "copy",
            ),
            ex(
                "Floods killed 30 people in Swat.",
                "supported",
                "compression",
            ),
            ex(
                "Flash floods did not kill 30 people in Swat.",
                "contradicted",
                "negation",
            ),
            ex(
                "Flash floods killed 30 people in Chitral on Sunday.",
                "unsupported",
                "place_date",
            ),
        ];
        let results = run(&data, None, |_| {}).unwrap();
        let r = report("mem", "none", &results);
        assert_eq!(r.claims, 4);
        assert_eq!(r.judged, 0);
        assert_eq!(r.at_threshold.balanced_accuracy, 1.0, "{}", table(&r));
        assert_eq!(r.by_kind["negation"].flagged, 1);
        assert_eq!(r.by_kind["copy"].flagged, 0);
        assert!(r.sweep.is_empty());
    }

    #[test]
    fn the_judge_scores_each_claim_and_the_sweep_moves_the_verdicts() {
        let data = [
            ex(
                "Flash floods killed 30 people in Swat on Sunday.",
                "supported",
                "copy",
            ),
            // The words are all there; only the judge can doubt it.
            ex(
                "The chief minister ordered the floods after an emergency response.",
                "contradicted",
                "cause_effect",
            ),
        ];
        let prompts = Prompts::embedded();
        let mut g = ScriptedGenerator::new(Vec::<String>::new()).with_judgements([-1.2]);
        let results = run(&data, Some((&mut g, &prompts)), |_| {}).unwrap();
        // The copy quotes its sentence: kept without asking the model.
        assert_eq!(results[0].verdict, Verdict::Supported);
        assert_eq!(results[0].score, None);
        assert!(
            results[0].reason.contains("word for word"),
            "{:?}",
            results[0]
        );
        assert_eq!(results[1].score, Some(-1.2));
        assert_ne!(results[1].verdict, Verdict::Supported, "{:?}", results[1]);
        // The judge was shown the evidence and the claim.
        assert_eq!(g.seen.len(), 1);
        let shown = &g.seen[0][1].content;
        assert!(
            shown.contains("Claim: The chief minister ordered the floods"),
            "{shown}"
        );
        assert!(
            shown.contains("- The chief minister ordered an emergency response"),
            "{shown}"
        );
        let r = report("mem", "scripted", &results);
        assert_eq!(r.judged, 1);
        assert_eq!(r.at_threshold.balanced_accuracy, 1.0);
        // At a threshold below -1.2 the doubt no longer counts.
        let low = r.sweep.iter().find(|p| p.threshold == -1.5).unwrap();
        assert_eq!(low.corrupted_recall, 0.0, "{low:?}");
    }

    #[test]
    fn a_bad_line_names_the_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.jsonl");
        std::fs::write(&p, "{\"article\":\"a\",\"claim\":\"b\"}\n{\"claim\":1}\n").unwrap();
        let e = load(&p, None).unwrap_err().to_string();
        assert!(e.contains("c.jsonl:2"), "{e}");
        assert!(load(&p, Some(1)).is_ok());
    }
}
