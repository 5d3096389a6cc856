//! Translation quality: chrF++ and BLEU against references (NTREX-128, or
//! a JSONL of `{"source","reference"}`), with the share of sentences that
//! kept every number, the share in the wrong language, and the time per
//! sentence. Sentences left out by the translator score as empty.

use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::metrics;
use crate::error::{Error, Result};
use crate::lang::Lang;
use crate::translate::{self, TranslateOptions, Translator};

/// One sentence with its reference translation.
#[derive(Debug, Clone, PartialEq)]
pub struct Pair {
    /// Document id and sentence number.
    pub id: String,
    /// Source sentence.
    pub source: String,
    /// Reference translation.
    pub reference: String,
}

/// NTREX-128 file suffix of a language.
fn ntrex_code(lang: Lang) -> &'static str {
    match lang {
        Lang::En => "eng",
        Lang::Ur => "urd",
        Lang::Ps => "pus",
    }
}

/// Loads pairs: an NTREX-128 folder (`newstest2019-src.eng.txt` and
/// `newstest2019-ref.{urd,pus}.txt`, English source) or a JSONL file of
/// `{"source","reference"}`; at most `limit`.
pub fn load_pairs(path: &Path, to: Lang, limit: Option<usize>) -> Result<Vec<Pair>> {
    let read = |p: &Path| std::fs::read_to_string(p).map_err(|e| Error::io(p, e));
    let mut pairs = if path.is_dir() {
        let src = read(&path.join("newstest2019-src.eng.txt"))?;
        let reff = read(&path.join(format!("newstest2019-ref.{}.txt", ntrex_code(to))))?;
        let ids = read(&path.join("DOCUMENT_IDS.tsv")).unwrap_or_default();
        let ids: Vec<&str> = ids.lines().collect();
        let (s, r): (Vec<&str>, Vec<&str>) = (src.lines().collect(), reff.lines().collect());
        if s.len() != r.len() {
            return Err(Error::bad_input(
                path.display().to_string(),
                format!("{} source lines but {} reference lines", s.len(), r.len()),
            ));
        }
        s.iter()
            .zip(&r)
            .enumerate()
            .map(|(i, (s, r))| Pair {
                id: format!("{}:{}", ids.get(i).copied().unwrap_or("ntrex"), i + 1),
                source: s.trim().to_string(),
                reference: r.trim().to_string(),
            })
            .collect::<Vec<_>>()
    } else {
        #[derive(Deserialize)]
        struct Line {
            source: String,
            reference: String,
        }
        read(path)?
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
            .map(|(i, l)| {
                let v: Line = serde_json::from_str(l).map_err(|e| {
                    Error::bad_input(
                        format!("{}:{}", path.display(), i + 1),
                        format!("expected {{\"source\", \"reference\"}}: {e}"),
                    )
                })?;
                Ok(Pair {
                    id: format!("line {}", i + 1),
                    source: v.source,
                    reference: v.reference,
                })
            })
            .collect::<Result<Vec<_>>>()?
    };
    if let Some(n) = limit {
        pairs.truncate(n);
    }
    Ok(pairs)
}

/// The translation evaluation report.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TranslationReport {
    /// Data path.
    pub data: String,
    /// Source and target languages.
    pub from: String,
    /// Target language.
    pub to: String,
    /// Backend, model and licence.
    pub backend: String,
    /// Model id.
    pub model: String,
    /// Sentences scored.
    pub sentences: usize,
    /// Sentences that failed (id and reason); scored as empty.
    pub failures: Vec<(String, String)>,
    /// chrF++ (character 6-grams, word 2-grams, β = 2), corpus level.
    pub chrf_pp: f64,
    /// BLEU (13a tokenization), corpus level.
    pub bleu: f64,
    /// Share of sentences whose numbers all survived.
    pub numbers_kept_rate: f64,
    /// Share of sentences flagged as the wrong language (left out).
    pub wrong_language_rate: f64,
    /// Sentences retried.
    pub retried: usize,
    /// Sentences with a flag left after the retry.
    pub flagged: usize,
    /// Mean seconds per sentence.
    pub secs_per_sentence: f64,
    /// Set when the run was interrupted before the end.
    pub interrupted: bool,
}

/// Translates every pair and scores the result.
pub fn run_translation(
    t: &mut dyn Translator,
    data: &str,
    pairs: &[Pair],
    from: Lang,
    to: Lang,
    opts: TranslateOptions,
    mut progress: impl FnMut(usize, &str),
) -> Result<TranslationReport> {
    let info = t.info().clone();
    let mut r = TranslationReport {
        data: data.to_string(),
        from: from.code().into(),
        to: to.code().into(),
        backend: info.backend,
        model: info.model,
        ..Default::default()
    };
    let (mut hyps, mut refs) = (Vec::new(), Vec::new());
    let (mut kept, mut wrong) = (0usize, 0usize);
    let t0 = Instant::now();
    for (i, p) in pairs.iter().enumerate() {
        if crate::batch::stop_flag().load(Ordering::SeqCst) {
            r.interrupted = true;
            break;
        }
        progress(i, &p.id);
        let hyp = match translate::translate_text(t, "sentence", &p.source, from, to, opts) {
            Ok(out) => {
                r.retried += out.retried;
                if !out.flags.is_empty() {
                    r.flagged += 1;
                }
                if out.flags.iter().any(|f| f.dropped) {
                    wrong += 1;
                }
                out.text
            }
            Err(e) => {
                r.failures.push((p.id.clone(), e.to_string()));
                String::new()
            }
        };
        if translate::missing_numbers(&p.source, &hyp).is_empty() {
            kept += 1;
        }
        hyps.push(hyp);
        refs.push(p.reference.clone());
    }
    let n = hyps.len();
    r.sentences = n;
    r.chrf_pp = metrics::chrf_pp(&hyps, &refs);
    r.bleu = metrics::bleu(&hyps, &refs);
    let share = |k: usize| if n == 0 { 0.0 } else { k as f64 / n as f64 };
    r.numbers_kept_rate = share(kept);
    r.wrong_language_rate = share(wrong);
    r.secs_per_sentence = if n == 0 {
        0.0
    } else {
        t0.elapsed().as_secs_f64() / n as f64
    };
    Ok(r)
}

/// The report as a table.
pub fn translation_table(r: &TranslationReport) -> String {
    format!(
        "translation {} -> {}  ({} sentences of {}; {} backend, model {})\n\
         {:<28} {:>8}\n{:<28} {:>8.2}\n{:<28} {:>8.2}\n{:<28} {:>7.1}%\n{:<28} {:>7.1}%\n{:<28} {:>8}\n{:<28} {:>8}\n{:<28} {:>8}\n{:<28} {:>8.2}\n{}",
        r.from,
        r.to,
        r.sentences,
        r.data,
        r.backend,
        r.model,
        "metric",
        "value",
        "chrF++",
        r.chrf_pp,
        "BLEU",
        r.bleu,
        "numbers kept",
        100.0 * r.numbers_kept_rate,
        "wrong language (left out)",
        100.0 * r.wrong_language_rate,
        "retried",
        r.retried,
        "flagged after retry",
        r.flagged,
        "failed",
        r.failures.len(),
        "seconds per sentence",
        r.secs_per_sentence,
        if r.interrupted { "interrupted before the end\n" } else { "" }
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::translate::{Attempt, Output, TranslatorInfo};

    /// Returns the reference itself for even sentences and drops a number
    /// from odd ones.
    struct Echo(TranslatorInfo, Vec<Pair>);

    impl Translator for Echo {
        fn info(&self) -> &TranslatorInfo {
            &self.0
        }
        fn serves(&self, _: Lang, _: Lang) -> bool {
            true
        }
        fn translate(&mut self, s: &str, _: Lang, _: Lang, _: Attempt) -> Result<Output> {
            let i = self.1.iter().position(|p| p.source == s).unwrap();
            let r = &self.1[i].reference;
            let text = if i % 2 == 0 {
                r.clone()
            } else {
                r.replace("27", "")
            };
            Ok(Output { text, cut: false })
        }
    }

    #[test]
    fn reads_ntrex_and_scores_a_perfect_and_a_lossy_translation() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/ntrex128");
        let pairs = load_pairs(&dir, Lang::Ps, Some(3)).unwrap();
        assert_eq!(pairs.len(), 3);
        assert!(pairs[0].id.starts_with("bbc.381790:1"));
        assert!(crate::lang::has_pashto_letters(
            &pairs
                .iter()
                .map(|p| p.reference.as_str())
                .collect::<String>()
        ));

        let pairs = vec![
            Pair {
                id: "a".into(),
                source: "27 people died.".into(),
                reference: "۲۷ کسان مړه شول.".into(),
            },
            Pair {
                id: "b".into(),
                source: "Another 27 fled.".into(),
                reference: "نور 27 وتښتېدل.".into(),
            },
        ];
        let info = TranslatorInfo {
            backend: "echo".into(),
            model: "m".into(),
            licence: "x".into(),
        };
        let mut t = Echo(info, pairs.clone());
        let r = run_translation(
            &mut t,
            "mem",
            &pairs,
            Lang::En,
            Lang::Ps,
            TranslateOptions::default(),
            |_, _| {},
        )
        .unwrap();
        assert_eq!(r.sentences, 2);
        // The second sentence loses its number on both tries.
        assert_eq!(r.retried, 1);
        assert_eq!(r.flagged, 1);
        assert!((r.numbers_kept_rate - 0.5).abs() < 1e-9);
        assert!(r.chrf_pp > 50.0 && r.chrf_pp < 100.0, "{}", r.chrf_pp);
        assert!(translation_table(&r).contains("chrF++"));
    }

    #[test]
    fn jsonl_pairs_and_bad_lines() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("pairs.jsonl");
        std::fs::write(
            &p,
            "{\"source\":\"a\",\"reference\":\"b\"}\n\n{\"source\":\"c\",\"reference\":\"d\"}\n",
        )
        .unwrap();
        assert_eq!(load_pairs(&p, Lang::Ur, None).unwrap().len(), 2);
        std::fs::write(&p, "{\"source\":\"a\"}\n").unwrap();
        let e = load_pairs(&p, Lang::Ur, None).unwrap_err().to_string();
        assert!(e.contains("pairs.jsonl:1"), "{e}");
    }
}
