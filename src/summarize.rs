//! The map-reduce summarizer over a [`Generator`]: one pass when the article
//! fits the chunk budget; otherwise notes per chunk, collapsed until they fit,
//! then the digest. The digest is always decoded under the JSON constraint.

use std::collections::BTreeMap;
use std::time::Instant;

use minijinja::Value;

use crate::article::Article;
use crate::chunk::{self, ChunkOptions};
use crate::digest::{Digest, ModelRef, Pass, SourceInfo, Timings, SCHEMA_VERSION};
use crate::error::{Error, Result};
use crate::generate::{
    DigestShape, Generation, Generator, Message, NumberSet, Request, Sampling, StopReason,
};
use crate::ground::FactCheck;
use crate::prompt::Prompts;
use crate::segment::{self, ends_sentence, Sentence};

/// The default chunk budget, in the model's tokens. Room for a whole news
/// article of about 2,300 words in one pass: a single pass keeps the
/// article's own order and emphasis, which the notes of a map step lose, and
/// takes a fraction of the time of map and reduce.
pub const DEFAULT_CONTEXT_TOKENS: usize = 3072;

/// Options for summarizing.
#[derive(Debug, Clone)]
pub struct SummarizeOptions {
    /// Most article tokens in one model call (the chunk budget; default
    /// [`DEFAULT_CONTEXT_TOKENS`]).
    pub context_tokens: usize,
    /// Tokens repeated between consecutive chunks (default 0).
    pub overlap_tokens: usize,
    /// Most tokens for the digest JSON (default 512).
    pub max_new_tokens: usize,
    /// Most tokens for one chunk's notes (default 448).
    pub notes_tokens: usize,
    /// Field bounds of the digest (headline 15 words, summary 4 sentences, 3–5 facts of ≤ 30 words).
    pub shape: DigestShape,
    /// Sampling (default greedy, repeat penalty 1.1, no-repeat 8-grams).
    pub sampling: Sampling,
    /// Require every number in the digest to occur in the article (default true).
    pub numbers_from_source: bool,
    /// Most rounds of collapsing notes (default 4).
    pub max_collapse_rounds: usize,
    /// What to do with a fact or number the article does not support (default flag).
    pub on_ungrounded: OnUngrounded,
    /// Rewrite an unsupported key fact once from its evidence sentences before
    /// `on_ungrounded` applies (default true); the digest says when it did.
    pub regenerate_facts: bool,
    /// Ask the model whether each checked claim's evidence supports it
    /// (default true); false keeps the lexical meaning checks alone.
    pub judge: bool,
    /// Most chunks an article may make (default [`DEFAULT_MAX_CHUNKS`]);
    /// a longer input is refused before any model call.
    pub max_chunks: usize,
    /// Headline-and-summary candidates to choose from, the digest's own
    /// included (default [`DEFAULT_CANDIDATES`]; 1 = the digest as decoded).
    /// The others are sampled from the same prompt, whose keys and values
    /// are reused, and the one that best covers the article's salient
    /// sentences and agrees with the rest is kept (see [`select`]).
    pub candidates: usize,
    /// Temperature of the sampled candidates (default 0.7).
    pub candidate_temperature: f64,
}

/// Candidates per digest by default.
pub const DEFAULT_CANDIDATES: usize = 1;

/// Most chunks of an article by default: 16 chunks of the default budget are
/// about 35,000 words, several times the longest news article.
pub const DEFAULT_MAX_CHUNKS: usize = 16;

/// What to do with ungrounded facts and numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum OnUngrounded {
    /// Remove the fact (a number outside the facts still fails).
    Drop,
    /// Keep it, mark it in `fact_checks` and list it in `warnings`.
    #[default]
    Flag,
    /// Stop with an error.
    Fail,
}

impl Default for SummarizeOptions {
    fn default() -> Self {
        Self {
            context_tokens: DEFAULT_CONTEXT_TOKENS,
            overlap_tokens: 0,
            max_new_tokens: 512,
            notes_tokens: 448,
            shape: DigestShape::default(),
            sampling: Sampling {
                no_repeat_ngram: 8,
                ..Sampling::default()
            },
            numbers_from_source: true,
            max_collapse_rounds: 4,
            on_ungrounded: OnUngrounded::Flag,
            regenerate_facts: true,
            judge: true,
            max_chunks: DEFAULT_MAX_CHUNKS,
            candidates: DEFAULT_CANDIDATES,
            candidate_temperature: 0.7,
        }
    }
}

/// Summarizes articles with given prompts and options.
pub struct Summarizer<'p> {
    prompts: &'p Prompts,
    opts: SummarizeOptions,
}

/// Work in progress: passes, timings and warnings.
#[derive(Default)]
struct Log {
    passes: Vec<Pass>,
    timings: Timings,
    warnings: Vec<String>,
}

impl Log {
    fn record(&mut self, stage: &str, index: usize, g: &Generation) {
        self.passes.push(Pass {
            stage: stage.into(),
            index,
            prompt_tokens: g.prompt_tokens,
            reused_prompt_tokens: g.reused_prompt_tokens,
            generated_tokens: g.generated_tokens,
            stop: format!("{:?}", g.stop).to_lowercase(),
        });
        self.timings.prompt_tokens += g.prompt_tokens;
        self.timings.reused_prompt_tokens += g.reused_prompt_tokens;
        self.timings.generated_tokens += g.generated_tokens;
        self.timings.prompt_secs += g.prompt_secs;
        self.timings.generate_secs += g.generate_secs;
        for n in &g.notes {
            self.warnings.push(format!("{stage} {index}: {n}"));
        }
        if g.stop == StopReason::MaxTokens && stage != "digest" && stage != "reduce" {
            self.warnings.push(format!(
                "{stage} {index}: cut at the {}-token limit for notes; later facts of that part may be missing",
                g.generated_tokens
            ));
        }
    }
}

impl<'p> Summarizer<'p> {
    /// A summarizer.
    pub fn new(prompts: &'p Prompts, opts: SummarizeOptions) -> Self {
        Self { prompts, opts }
    }

    /// Versions of the prompts in use.
    pub fn prompt_version(&self) -> String {
        self.prompts.version()
    }

    /// The options in use.
    pub fn options(&self) -> &SummarizeOptions {
        &self.opts
    }

    /// Summarizes `article` into a [`Digest`].
    pub fn run(&self, g: &mut dyn Generator, article: &Article) -> Result<Digest> {
        let t0 = Instant::now();
        let mut log = Log::default();
        log.warnings.extend(article.warnings.iter().cloned());
        let source = article.full_text();
        let numbers = NumberSet::from_source(&source);
        let numbers_ref = self.opts.numbers_from_source.then_some(&numbers);
        let language = Value::from(article.lang.name());
        let title = Value::from(article.title.clone().unwrap_or_default());
        let budget = self.opts.context_tokens.max(64);
        // Every word is a token at least: an input far past the limit is
        // refused before it is tokenized.
        let too_long = |chunks: String| {
            crate::error::Error::BadInput {
            input: article.source.clone(),
            reason: format!(
                "{} words would make {chunks} chunks of {budget} tokens, more than --max-chunks {} (each chunk is one model pass); split the input into articles, or raise --max-chunks",
                article.word_count, self.opts.max_chunks
            ),
        }
        };
        if article.word_count > self.opts.max_chunks.saturating_mul(budget) {
            return Err(too_long(format!(
                "at least {}",
                article.word_count.div_ceil(budget)
            )));
        }
        let sentences = segment::split(&article.body);
        let chunks = chunk::chunk(
            &sentences,
            &*g,
            ChunkOptions {
                budget,
                overlap: self.opts.overlap_tokens,
            },
        );
        if chunks.len() > self.opts.max_chunks {
            return Err(too_long(chunks.len().to_string()));
        }
        if chunks.iter().any(|c| c.split_sentence) {
            log.warnings.push(
                "a sentence longer than the chunk budget was split at word boundaries".into(),
            );
        }
        let mut vars = BTreeMap::from([
            ("title", title.clone()),
            ("language", language.clone()),
            ("min_facts", Value::from(self.opts.shape.min_facts)),
            ("max_facts", Value::from(self.opts.shape.max_facts)),
        ]);
        let (prompt_name, stage) = if chunks.len() <= 1 {
            vars.insert("article", Value::from(article.body.as_str()));
            ("digest", "digest")
        } else {
            let notes = self.map_reduce_notes(g, &chunks, &title, &language, &mut log)?;
            vars.insert("notes", Value::from(notes));
            ("reduce", "reduce")
        };
        vars.insert("examples", Value::from(true));
        let mut messages = self.prompts.render(prompt_name, &vars)?;
        let digest_pass = |g: &mut dyn Generator, messages: &[Message]| {
            g.generate(&Request {
                messages: messages.to_vec(),
                max_new_tokens: self.opts.max_new_tokens,
                sampling: self.opts.sampling,
                digest: Some((self.opts.shape, numbers_ref)),
            })
        };
        let gen = digest_pass(g, &messages)?;
        log.record(stage, 1, &gen);
        let mut parsed = parse_digest(&gen.text, gen.limits, &self.opts.shape, &mut log.warnings)?;
        // A digest that copies the prompt's worked examples (their words, not
        // the article's) is written again without them.
        let copies = CopyCheck::new(self.prompts, prompt_name, &vars, &source)?;
        let copied = copies.copied(&parsed);
        if !copied.is_empty() {
            vars.insert("examples", Value::from(false));
            let plain = self.prompts.render(prompt_name, &vars)?;
            if plain != messages {
                messages = plain;
                let gen = digest_pass(g, &messages)?;
                log.record(stage, 2, &gen);
                let more = match copied.len() {
                    0..=3 => String::new(),
                    n => format!(" and {} more", n - 3),
                };
                log.warnings.push(format!(
                    "the digest copied words of the prompt's worked examples that the article lacks (\"{}\"{more}); it was written again without the examples",
                    copied[..copied.len().min(3)].join("\", \"")
                ));
                parsed = parse_digest(&gen.text, gen.limits, &self.opts.shape, &mut log.warnings)?;
            }
        }
        let prompt = DigestPrompt {
            messages: &messages,
            numbers: numbers_ref,
            copies: &copies,
        };
        let selection = self.select(g, &prompt, &sentences, &mut parsed, &mut log)?;
        let checking = Instant::now();
        // Facts, headline and summary sentences go to the judge in one call,
        // so that its instructions are computed once and claims sharing
        // evidence share their prompt's prefix.
        let mut checks = crate::ground::check_facts(&parsed.key_facts, &source);
        let facts = checks.len();
        checks.extend(crate::ground::check_claims(
            &parsed.headline,
            &parsed.summary,
            &source,
        ));
        self.judge(g, &mut checks, &mut log)?;
        let claims = checks.split_off(facts);
        log.timings.check_secs = checking.elapsed().as_secs_f64();
        if self.opts.regenerate_facts {
            let rewriting = Instant::now();
            self.regenerate(g, &mut parsed, &mut checks, &source, &language, &mut log)?;
            log.timings.rewrite_secs = rewriting.elapsed().as_secs_f64();
        }
        let mut fact_checks =
            self.ground(&mut parsed, checks, &claims, &source, &mut log.warnings)?;
        fact_checks.extend(claims);
        log.timings.total_secs = t0.elapsed().as_secs_f64();
        log.timings.finish();
        let info = g.info();
        Ok(Digest {
            schema_version: SCHEMA_VERSION,
            headline: parsed.headline,
            summary: parsed.summary,
            key_facts: parsed.key_facts,
            language: article.lang,
            source: SourceInfo {
                path: article.source.clone(),
                title: article.title.clone(),
                word_count: article.word_count,
                sha256: article.sha256.clone(),
                format: format!("{:?}", article.format).to_lowercase(),
                furniture_removed: article.furniture_removed.len(),
                page: article.meta.clone(),
            },
            model: ModelRef {
                id: info.id.clone(),
                sha256: info.sha256.clone(),
                licence: info.licence.clone(),
                architecture: info.architecture.clone(),
            },
            prompt_version: self.prompts.version(),
            chunks: chunks.len(),
            passes: log.passes,
            timings: log.timings,
            warnings: log.warnings,
            fact_checks,
            translations: Vec::new(),
            selection,
            batch: None,
        })
    }

    /// Samples `candidates - 1` more headlines and summaries from the digest's
    /// prompt and keeps the best of all (see [`select::choose`]). A candidate
    /// that cannot be read, or that copies the worked examples, is left out
    /// with a warning.
    fn select(
        &self,
        g: &mut dyn Generator,
        prompt: &DigestPrompt<'_>,
        sentences: &[Sentence<'_>],
        parsed: &mut Parsed,
        log: &mut Log,
    ) -> Result<Option<select::Selection>> {
        if self.opts.candidates <= 1 {
            return Ok(None);
        }
        let shape = DigestShape {
            min_facts: 0,
            max_facts: 0,
            ..self.opts.shape
        };
        let mut found = vec![(
            parsed.headline.clone(),
            parsed.summary.clone(),
            "greedy".to_string(),
        )];
        for k in 1..self.opts.candidates {
            let seed = self.opts.sampling.seed.wrapping_add(k as u64);
            let gen = g.generate(&Request {
                messages: prompt.messages.to_vec(),
                max_new_tokens: self.opts.max_new_tokens,
                sampling: Sampling {
                    temperature: self.opts.candidate_temperature,
                    seed,
                    ..self.opts.sampling
                },
                digest: Some((shape, prompt.numbers)),
            })?;
            log.record("candidate", k + 1, &gen);
            let mut ignored = Vec::new();
            // The constrained text stops after the summary.
            match parse_digest(
                &format!("{}}}", gen.text.trim()),
                gen.limits,
                &shape,
                &mut ignored,
            ) {
                Ok(p) if p.summary.is_empty() => log.warnings.push(format!(
                    "candidate {} left out: its summary was empty",
                    k + 1
                )),
                Ok(p) if !prompt.copies.copied(&p).is_empty() => log.warnings.push(format!(
                    "candidate {} left out: it copied words of the prompt's worked examples",
                    k + 1
                )),
                Ok(p) => found.push((p.headline, p.summary, format!("sampled, seed {seed}"))),
                Err(e) => log
                    .warnings
                    .push(format!("candidate {} left out: {e}", k + 1)),
            }
        }
        // The most salient sentences stand in for a reference summary.
        let texts: Vec<&str> = sentences.iter().map(|s| s.text).collect();
        let reference = select::salient(&texts, select::REFERENCE_SENTENCES)
            .into_iter()
            .map(|i| texts[i])
            .collect::<Vec<_>>()
            .join(" ");
        let selection = select::choose(found, &reference);
        let kept = &selection.candidates[selection.chosen];
        parsed.headline = kept.headline.clone();
        parsed.summary = kept.summary.clone();
        Ok(Some(selection))
    }

    /// Rewrites each unsupported key fact once from its evidence sentences;
    /// a rewrite replaces the fact only when it is grounded, short enough and
    /// not a repeat of another fact. Every attempt is reported in `warnings`.
    fn regenerate(
        &self,
        g: &mut dyn Generator,
        p: &mut Parsed,
        checks: &mut [FactCheck],
        source: &str,
        language: &Value,
        log: &mut Log,
    ) -> Result<()> {
        let max_words = self.opts.shape.fact_words;
        // Every rewrite first (their prompts share the instructions), then
        // one judge call over all of them.
        let mut rewrites: Vec<(usize, String)> = Vec::new();
        for (i, check) in checks.iter().enumerate() {
            if check.grounded || check.evidence.is_empty() {
                continue;
            }
            let vars = BTreeMap::from([
                ("fact", Value::from(check.fact.as_str())),
                ("problem", Value::from(check.problem())),
                ("evidence", Value::from(check.evidence.clone())),
                ("language", language.clone()),
                ("max_words", Value::from(max_words)),
            ]);
            let gen = g.generate(&Request {
                messages: self.prompts.render("refact", &vars)?,
                max_new_tokens: (max_words as usize) * 3 + 16,
                sampling: self.opts.sampling,
                digest: None,
            })?;
            log.record("refact", i + 1, &gen);
            rewrites.push((i, clean_fact(&gen.text)));
        }
        let candidates: Vec<String> = rewrites.iter().map(|(_, c)| c.clone()).collect();
        let mut rechecks = crate::ground::check_facts(&candidates, source);
        self.judge(g, &mut rechecks, log)?;
        for ((i, candidate), mut new) in rewrites.into_iter().zip(rechecks) {
            let check = &mut checks[i];
            let others: Vec<&String> = p
                .key_facts
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != i)
                .map(|(_, f)| f)
                .collect();
            let why_not = if candidate.is_empty() {
                Some("it was empty".to_string())
            } else if candidate.split_whitespace().count() > max_words as usize {
                Some(format!("it ran past {max_words} words"))
            } else if !new.grounded {
                Some(new.problem())
            } else if others.iter().any(|f| same_fact(f, &candidate)) {
                Some("it repeats another fact".to_string())
            } else {
                None
            };
            match why_not {
                Some(why) => log.warnings.push(format!(
                    "key fact {} was regenerated from its evidence but the rewrite was not used ({why}): \"{candidate}\"",
                    i + 1
                )),
                None => {
                    log.warnings.push(format!(
                        "key fact {} was not supported by the article ({}) and was regenerated from its evidence: \"{}\" is now \"{candidate}\"",
                        i + 1,
                        check.problem(),
                        check.fact
                    ));
                    new.regenerated_from = Some(std::mem::take(&mut check.fact));
                    p.key_facts[i] = candidate;
                    *check = new;
                }
            }
        }
        Ok(())
    }

    /// With `judge` on, the model's judgement of the meaning of `checks`
    /// (see [`crate::ground::judge`]).
    fn judge(&self, g: &mut dyn Generator, checks: &mut [FactCheck], log: &mut Log) -> Result<()> {
        if self.opts.judge {
            log.timings.judged_claims += crate::ground::judge(checks, g, self.prompts)?;
        }
        Ok(())
    }

    /// Checks numbers in the headline and summary, applies `on_ungrounded`
    /// to them, to the meaning `claims` of the headline and summary
    /// sentences, and to the fact `checks`.
    fn ground(
        &self,
        p: &mut Parsed,
        mut checks: Vec<FactCheck>,
        claims: &[FactCheck],
        source: &str,
        warnings: &mut Vec<String>,
    ) -> Result<Vec<FactCheck>> {
        let mut problems = Vec::new();
        for (field, text) in [("headline", &p.headline), ("summary", &p.summary)] {
            let bad = crate::ground::unsupported_numbers(text, source);
            if !bad.is_empty() {
                problems.push(format!(
                    "{field} has numbers not in the article: {}",
                    bad.join(", ")
                ));
            }
        }
        for c in claims.iter().filter(|c| !c.grounded) {
            let what = match c.field {
                crate::ground::Field::Headline => "headline",
                _ => "summary sentence",
            };
            problems.push(format!(
                "{what} {} by the article ({}): \"{}\"",
                verdict_words(c.verdict),
                c.problem(),
                c.fact
            ));
        }
        for c in checks.iter().filter(|c| !c.grounded) {
            problems.push(format!(
                "key fact {} by the article ({}): \"{}\"",
                verdict_words(c.verdict),
                c.problem(),
                c.fact
            ));
        }
        match self.opts.on_ungrounded {
            OnUngrounded::Fail if !problems.is_empty() => {
                return Err(Error::Ungrounded(problems.join("; ")))
            }
            OnUngrounded::Drop => {
                let before = p.key_facts.len();
                let keep: Vec<bool> = checks.iter().map(|c| c.grounded).collect();
                let mut it = keep.iter();
                p.key_facts.retain(|_| *it.next().unwrap_or(&true));
                checks.retain(|c| c.grounded);
                for prob in problems {
                    let what = if prob.starts_with("key fact") {
                        "dropped "
                    } else {
                        ""
                    };
                    warnings.push(format!("{what}{prob}"));
                }
                if p.key_facts.len() < before
                    && p.key_facts.len() < self.opts.shape.min_facts as usize
                {
                    warnings.push(format!(
                        "only {} grounded key facts remain",
                        p.key_facts.len()
                    ));
                }
            }
            _ => warnings.extend(problems),
        }
        Ok(checks)
    }

    /// Map: notes per chunk; then collapse until the notes fit the budget.
    fn map_reduce_notes(
        &self,
        g: &mut dyn Generator,
        chunks: &[chunk::Chunk],
        title: &Value,
        language: &Value,
        log: &mut Log,
    ) -> Result<String> {
        let mut notes = Vec::with_capacity(chunks.len());
        for (i, c) in chunks.iter().enumerate() {
            let vars = BTreeMap::from([
                ("chunk", Value::from(c.text.as_str())),
                ("index", Value::from(i + 1)),
                ("total", Value::from(chunks.len())),
                ("title", title.clone()),
                ("language", language.clone()),
            ]);
            let gen = self.plain(g, self.prompts.render("notes", &vars)?)?;
            log.record("notes", i + 1, &gen);
            notes.push(clean_notes(&gen.text));
        }
        let mut joined = notes.join("\n");
        let budget = self.opts.context_tokens.max(64);
        let mut round = 0;
        while g.count(&joined) > budget {
            round += 1;
            if round > self.opts.max_collapse_rounds {
                return Err(Error::Generation(format!(
                    "notes still exceed {budget} tokens after {} rounds of merging; raise --context-tokens",
                    self.opts.max_collapse_rounds
                )));
            }
            let lines: Vec<Sentence<'_>> = joined
                .lines()
                .filter(|l| !l.trim().is_empty())
                .map(|l| Sentence {
                    text: l.trim(),
                    start: 0,
                    para_start: true,
                })
                .collect();
            let groups = chunk::chunk(&lines, &*g, ChunkOptions { budget, overlap: 0 });
            let before = g.count(&joined);
            let mut merged = Vec::with_capacity(groups.len());
            for grp in &groups {
                let vars = BTreeMap::from([
                    ("notes", Value::from(grp.text.as_str())),
                    ("title", title.clone()),
                    ("language", language.clone()),
                ]);
                let gen = self.plain(g, self.prompts.render("collapse", &vars)?)?;
                log.record(
                    "collapse",
                    log.passes.iter().filter(|p| p.stage == "collapse").count() + 1,
                    &gen,
                );
                merged.push(clean_notes(&gen.text));
            }
            joined = merged.join("\n");
            log.warnings.push(format!(
                "notes of {before} tokens were merged (round {round}) to fit the {budget}-token budget"
            ));
        }
        Ok(joined)
    }

    fn plain(&self, g: &mut dyn Generator, messages: Vec<Message>) -> Result<Generation> {
        g.generate(&Request {
            messages,
            max_new_tokens: self.opts.notes_tokens,
            sampling: self.opts.sampling,
            digest: None,
        })
    }
}

/// Keeps note lines, one fact per line starting with `- `.
/// A verdict as it reads in a warning: "not supported", "contradicted".
fn verdict_words(v: crate::ground::Verdict) -> &'static str {
    match v {
        crate::ground::Verdict::Contradicted => "contradicted",
        _ => "not supported",
    }
}

fn clean_notes(text: &str) -> String {
    text.lines()
        .map(|l| l.trim().trim_start_matches(['-', '*', '•']).trim())
        .filter(|l| !l.is_empty())
        .map(|l| format!("- {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A model's one-sentence reply as a fact: its first non-empty line without
/// list marks, surrounding quotes or a label such as "Fact:".
fn clean_fact(text: &str) -> String {
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("");
    let line = line.trim_start_matches(['-', '*', '•']).trim();
    let line = match line.split_once(':') {
        Some((label, rest))
            if label.split_whitespace().count() <= 2 && label.to_lowercase().contains("fact") =>
        {
            rest.trim()
        }
        _ => line,
    };
    tidy(line.trim_matches(['"', '“', '”', '\'']))
}

/// The three fields of a digest, cleaned.
#[derive(Debug, serde::Deserialize)]
pub(crate) struct Parsed {
    pub headline: String,
    pub summary: String,
    /// Absent from a headline-and-summary candidate.
    #[serde(default)]
    pub key_facts: Vec<String>,
}

/// Parses the constrained JSON, cuts fields that ran into their bound at
/// the last sentence boundary and removes duplicate facts, saying so in
/// `warnings`. `limits` has the bits of `DigestMachine::limits_hit`.
pub(crate) fn parse_digest(
    text: &str,
    limits: u32,
    shape: &DigestShape,
    warnings: &mut Vec<String>,
) -> Result<Parsed> {
    let mut p: Parsed = serde_json::from_str(text.trim()).map_err(|source| Error::Json {
        what: "model output".into(),
        source,
    })?;
    p.headline = tidy(&p.headline).trim_end_matches(['.', '۔']).to_string();
    if limits & 1 != 0 {
        warnings.push(format!(
            "headline reached its {}-word bound",
            shape.headline_words
        ));
    }
    p.summary = tidy(&p.summary);
    if !ends_sentence(&p.summary) {
        if let Some(cut) = last_sentence_end(&p.summary) {
            warnings.push(format!(
                "summary ran past its bound and was cut at the last sentence boundary (dropped: \"{}\")",
                p.summary[cut..].trim()
            ));
            p.summary.truncate(cut);
        } else if limits & 2 != 0 {
            warnings.push("summary reached its bound mid-sentence".into());
        }
    }
    let mut seen: Vec<std::collections::HashSet<String>> = Vec::new();
    let mut facts = Vec::new();
    let mut previous_cut = false;
    for (i, f) in p.key_facts.into_iter().enumerate() {
        let mut f = tidy(&f);
        let continues_cut = previous_cut && f.chars().next().is_some_and(char::is_lowercase);
        previous_cut = false;
        if continues_cut {
            warnings.push(format!(
                "key fact {} dropped: it continued a fact cut at its bound (\"{f}\")",
                i + 1
            ));
            continue;
        }
        if limits & (4 << i.min(24)) != 0 && !ends_sentence(&f) {
            previous_cut = true;
            match last_sentence_end(&f) {
                Some(cut) => {
                    warnings.push(format!(
                        "key fact {} ran past {} words and was cut at a sentence boundary",
                        i + 1,
                        shape.fact_words
                    ));
                    f.truncate(cut);
                }
                None => match last_clause_end(&f) {
                    Some(cut) => {
                        warnings.push(format!(
                            "key fact {} ran past {} words mid-sentence and was closed at its last clause (cut: \"{}\")",
                            i + 1,
                            shape.fact_words,
                            f[cut..].trim_start_matches([',', ';', ' ', '-', '–', '—'])
                        ));
                        f.truncate(cut);
                        f.truncate(f.trim_end_matches([',', ';', ' ', '-', '–', '—']).len());
                        f.push('.');
                    }
                    None => {
                        warnings.push(format!(
                            "key fact {} dropped: it ran past {} words mid-sentence (\"{f}\")",
                            i + 1,
                            shape.fact_words
                        ));
                        continue;
                    }
                },
            }
        }
        let key: std::collections::HashSet<String> = crate::ground::words(&f).into_iter().collect();
        if key.is_empty() {
            continue;
        }
        if seen.iter().any(|s| near_duplicate(s, &key)) {
            warnings.push(format!("duplicate key fact removed: \"{f}\""));
            continue;
        }
        seen.push(key);
        facts.push(f);
    }
    if facts.len() < shape.min_facts as usize {
        warnings.push(format!(
            "only {} usable key facts (asked for at least {})",
            facts.len(),
            shape.min_facts
        ));
    }
    p.key_facts = facts;
    if p.headline.is_empty() {
        return Err(Error::Generation(
            "the model wrote an empty headline".into(),
        ));
    }
    Ok(p)
}

/// The digest's prompt as decoded, for the candidates sampled from it.
struct DigestPrompt<'a> {
    messages: &'a [Message],
    numbers: Option<&'a NumberSet>,
    copies: &'a CopyCheck,
}

/// Runs of [`COPY_WORDS`] words that occur in the prompt outside the article
/// (its instructions and worked examples) and not in the article: a digest
/// that has one copied it from the examples.
struct CopyCheck {
    copyable: std::collections::HashSet<String>,
}

impl CopyCheck {
    fn new(
        prompts: &Prompts,
        name: &str,
        vars: &BTreeMap<&str, Value>,
        source: &str,
    ) -> Result<Self> {
        let mut bare = vars.clone();
        for key in ["article", "notes", "title"] {
            if bare.contains_key(key) {
                bare.insert(key, Value::from(""));
            }
        }
        let prompt: String = prompts
            .render(name, &bare)?
            .iter()
            .map(|m| m.content.as_str())
            .collect::<Vec<_>>()
            .join("\n");
        let in_source = runs(source);
        Ok(Self {
            copyable: runs(&prompt)
                .into_iter()
                .filter(|r| !in_source.contains(r))
                .collect(),
        })
    }

    /// The copied runs of a digest's headline, summary and facts.
    fn copied(&self, p: &Parsed) -> Vec<String> {
        let mut copied: Vec<String> = Vec::new();
        for field in std::iter::once(&p.headline)
            .chain(std::iter::once(&p.summary))
            .chain(&p.key_facts)
        {
            for w in crate::ground::words(field).windows(COPY_WORDS) {
                let run = w.join(" ");
                if self.copyable.contains(&run) && !copied.contains(&run) {
                    copied.push(run);
                }
            }
        }
        copied
    }
}

/// Every run of [`COPY_WORDS`] words of a text.
fn runs(text: &str) -> std::collections::HashSet<String> {
    crate::ground::words(text)
        .windows(COPY_WORDS)
        .map(|w| w.join(" "))
        .collect()
}

/// Words in a run that counts as copied from the prompt.
const COPY_WORDS: usize = 4;

/// [`near_duplicate`] on two texts.
pub(crate) fn same_fact(a: &str, b: &str) -> bool {
    let set = |t: &str| crate::ground::words(t).into_iter().collect();
    near_duplicate(&set(a), &set(b))
}

/// Two facts whose words overlap by 70% or more (Jaccard) say the same thing.
fn near_duplicate(
    a: &std::collections::HashSet<String>,
    b: &std::collections::HashSet<String>,
) -> bool {
    let inter = a.intersection(b).count() as f32;
    let union = a.union(b).count() as f32;
    union > 0.0 && inter / union >= 0.7
}

fn tidy(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Byte offset just past the last full sentence of `s`, if any.
/// Where the last whole clause of `s` ends: before its last comma,
/// semicolon, dash or " and "/" but "/" while " that leaves at least six
/// words, and never inside a number ("2,600").
fn last_clause_end(s: &str) -> Option<usize> {
    let mut best = None;
    for (i, _) in s.char_indices() {
        let rest = &s[i..];
        let boundary = [", ", "; ", " - ", " – ", " — ", " and ", " but ", " while "]
            .iter()
            .any(|b| rest.starts_with(b));
        if boundary && s[..i].split_whitespace().count() >= 6 {
            best = Some(i);
        }
    }
    best
}

fn last_sentence_end(s: &str) -> Option<usize> {
    let sents = segment::split(s);
    if sents.len() < 2 {
        return None;
    }
    let last_full = sents.iter().rev().find(|x| ends_sentence(x.text))?;
    Some(last_full.start + last_full.text.len())
}

pub mod select;

#[cfg(test)]
mod tests;
