//! The binary with a scripted generator: formats, exit codes, errors.

use assert_cmd::Command;
use predicates::prelude::*;
use tempfile::TempDir;

pub(crate) const DIGEST: &str = r#"{"headline": "Floods kill 30 in Swat valley", "summary": "Flash floods killed 30 people in Swat on Sunday. 2,600 homes were damaged.", "key_facts": ["Floods killed 30 people.", "2,600 homes were damaged.", "Roads to 14 villages were cut."]}"#;

const ARTICLE: &str = "Floods kill 30 in Swat valley\n\nBy Ahmed Khan\n\nShare on Facebook\n\n\
Flash floods killed 30 people in the Swat valley on Sunday, officials said.\n\n\
The provincial disaster authority said 2,600 homes were damaged and roads to 14 villages were cut.\n";

pub(crate) struct Fixture {
    dir: TempDir,
}

impl Fixture {
    pub(crate) fn new(replies: &[&str]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("replies.json"),
            serde_json::to_string(replies).unwrap(),
        )
        .unwrap();
        std::fs::write(dir.path().join("a.txt"), ARTICLE).unwrap();
        Self { dir }
    }
    pub(crate) fn path(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }
    /// The environment every run gets: a home, khulasa cache and model
    /// cache of the fixture's own.
    fn env(&self) -> [(&'static str, std::path::PathBuf); 3] {
        [
            ("HOME", self.dir.path().to_path_buf()),
            ("KHULASA_CACHE", self.dir.path().join("cache")),
            ("HF_HOME", self.dir.path().join("hf")),
        ]
    }
    fn cmd(&self) -> Command {
        let mut c = Command::cargo_bin("khulasa").unwrap();
        c.env_clear().envs(self.env());
        c
    }
    pub(crate) fn summarize(&self, extra: &[&str]) -> Command {
        let mut c = self.cmd();
        let model = format!("scripted:{}", self.path("replies.json"));
        c.args(["summarize", "--model", &model]).args(extra);
        c
    }
}

/// Runs `c`, expects success and parses its stdout as JSON.
fn json_stdout(mut c: Command) -> serde_json::Value {
    let out = c.assert().success().get_output().stdout.clone();
    serde_json::from_slice(&out).expect("stdout is JSON")
}

#[test]
fn text_output_has_headline_summary_facts_only_on_stdout() {
    let f = Fixture::new(&[DIGEST]);
    f.summarize(&[&f.path("a.txt")])
        .assert()
        .success()
        .stdout(predicate::str::starts_with(
            "Floods kill 30 in Swat valley\n\nFlash floods killed",
        ))
        .stdout(predicate::str::contains(
            "Key facts:\n- Floods killed 30 people.\n",
        ))
        .stderr(predicate::str::is_empty());
}

#[test]
fn json_output_is_documented_schema() {
    let f = Fixture::new(&[DIGEST]);
    let v = json_stdout(f.summarize(&[&f.path("a.txt"), "--format", "json"]));
    assert_eq!(v["schema_version"], 1);
    assert_eq!(v["language"], "en");
    assert_eq!(v["key_facts"].as_array().unwrap().len(), 3);
    assert_eq!(v["source"]["title"], "Floods kill 30 in Swat valley");
    assert_eq!(v["source"]["furniture_removed"], 2);
    assert_eq!(v["chunks"], 1);
    assert_eq!(v["passes"][0]["stage"], "digest");
    for k in ["model", "timings", "warnings", "prompt_version"] {
        assert!(v.get(k).is_some(), "missing {k}");
    }
    assert_eq!(v["source"]["sha256"].as_str().unwrap().len(), 64);
}

#[test]
fn markdown_and_stdin() {
    let f = Fixture::new(&[DIGEST]);
    f.summarize(&["-", "--format", "markdown"])
        .write_stdin(ARTICLE)
        .assert()
        .success()
        .stdout(predicate::str::starts_with(
            "## Floods kill 30 in Swat valley\n",
        ))
        .stdout(predicate::str::contains("- 2,600 homes were damaged.\n"));
}

#[test]
fn verbose_reports_timings_on_stderr() {
    let f = Fixture::new(&[DIGEST]);
    f.summarize(&[&f.path("a.txt"), "-v"])
        .assert()
        .success()
        .stderr(predicate::str::contains("[timings]").and(predicate::str::contains("tok/s")))
        .stderr(predicate::str::contains("[read]"));
}

#[test]
fn bad_inputs_give_one_line_and_exit_2() {
    let f = Fixture::new(&[DIGEST]);
    std::fs::write(f.path("empty.txt"), "  \n ").unwrap();
    std::fs::write(f.path("bin.dat"), b"\x00\x01\x02binary").unwrap();
    std::fs::write(f.path("latin1.txt"), b"caf\xe9 au lait").unwrap();
    std::fs::write(f.path("big.txt"), "word ".repeat(1000)).unwrap();
    std::fs::write(f.path("bad.json"), "{\"foo\": 1}").unwrap();
    let cases: Vec<(Vec<String>, &str)> = vec![
        (vec![f.path("empty.txt")], "input is empty"),
        (vec![f.path("bin.dat")], "binary"),
        (vec![f.path("latin1.txt")], "not valid UTF-8"),
        (vec![f.path("missing.txt")], "cannot read input"),
        (
            vec![f.path("big.txt"), "--max-input-bytes".into(), "100".into()],
            "over the limit",
        ),
        (vec![f.path("bad.json")], "\"body\" or \"text\""),
        (vec![f.dir.path().display().to_string()], "is a folder"),
    ];
    for (args, msg) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = f
            .summarize(&args)
            .assert()
            .code(2)
            .stdout(predicate::str::is_empty())
            .get_output()
            .stderr
            .clone();
        let err = String::from_utf8(out).unwrap();
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
        assert!(err.contains(msg) && err.contains(args[0]), "{err}");
    }
}

#[test]
fn out_of_range_repeat_penalty_is_refused() {
    let f = Fixture::new(&[DIGEST]);
    f.summarize(&[&f.path("a.txt"), "--repeat-penalty", "3"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("from 1 (off) to 2"));
    f.summarize(&[&f.path("a.txt"), "--repeat-penalty", "1"])
        .assert()
        .success();
}

#[test]
fn unknown_model_and_offline_miss_exit_2() {
    let f = Fixture::new(&[DIGEST]);
    f.cmd()
        .args(["summarize", &f.path("a.txt"), "--model", "no-such-model"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("unknown model"));
    f.cmd()
        .args([
            "summarize",
            &f.path("a.txt"),
            "--model",
            "qwen2.5-coder-0.5b-instruct",
            "--offline",
        ])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("offline"));
    f.cmd()
        .args(["summarize", &f.path("a.txt"), "--model", "/nowhere/m.gguf"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("file not found"));
}

#[test]
fn corrupt_gguf_is_a_clear_error() {
    let f = Fixture::new(&[DIGEST]);
    std::fs::write(f.path("bad.gguf"), b"not a gguf at all").unwrap();
    f.cmd()
        .args([
            "summarize",
            &f.path("a.txt"),
            "--model",
            &f.path("bad.gguf"),
        ])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("not a readable GGUF"));
    // A hostile header (a tensor count of 2^64 - 1) is refused before any
    // large allocation, in one line even with backtraces on.
    let mut hostile = b"GGUF\x03\x00\x00\x00".to_vec();
    hostile.extend([0xff; 16]);
    std::fs::write(f.path("hostile.gguf"), hostile).unwrap();
    let out = f
        .cmd()
        .env("RUST_BACKTRACE", "1")
        .args([
            "summarize",
            &f.path("a.txt"),
            "--model",
            &f.path("hostile.gguf"),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.contains("hostile.gguf: not a readable GGUF"), "{err}");
}

#[test]
fn prompt_override_folder_is_used() {
    let f = Fixture::new(&[DIGEST]);
    let p = f.dir.path().join("prompts");
    std::fs::create_dir(&p).unwrap();
    std::fs::write(
        p.join("digest.toml"),
        "version = \"7\"\nvariables = [\"article\"]\nsystem = \"S\"\nuser = \"Only: {{ article }}\"\n",
    )
    .unwrap();
    let v = json_stdout(f.summarize(&[
        &f.path("a.txt"),
        "--format",
        "json",
        "--prompts",
        &p.display().to_string(),
    ]));
    assert!(v["prompt_version"].as_str().unwrap().contains("digest@7"));
}

#[test]
fn models_list_names_every_manifest() {
    let f = Fixture::new(&[DIGEST]);
    f.cmd()
        .args(["models", "list"])
        .assert()
        .success()
        .stdout(predicate::str::contains("qwen2.5-coder-1.5b-instruct *"))
        .stdout(predicate::str::contains("gemma-3-270m"))
        .stdout(predicate::str::contains("Apache-2.0"));
    f.cmd()
        .args(["models", "path", "smollm2-135m-instruct"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("not cached"));
}

#[test]
fn broken_grammar_from_generator_exits_1() {
    let f = Fixture::new(&["{\"headline\": 5}"]);
    f.summarize(&[&f.path("a.txt")])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("grammar"));
}

const INVENTED: &str = r#"{"headline": "Floods kill 30 in Swat valley", "summary": "Flash floods killed 30 people in Swat on Sunday.", "key_facts": ["Floods killed 30 people.", "2,600 homes were damaged.", "Prime Minister Imran Khan visited Karachi."]}"#;

#[test]
fn ungrounded_facts_flag_drop_or_fail() {
    let f = Fixture::new(&[INVENTED]);
    let v = json_stdout(f.summarize(&[&f.path("a.txt"), "--format", "json"]));
    let checks = v["fact_checks"].as_array().unwrap();
    // Three key facts, then the headline and each summary sentence.
    let facts = checks.iter().filter(|c| c["field"] == "key_fact").count();
    assert_eq!(facts, 3, "{checks:?}");
    assert_eq!(checks[0]["grounded"], true);
    assert!(checks[0]["evidence"][0]
        .as_str()
        .unwrap()
        .contains("killed 30 people"));
    assert_eq!(checks[2]["grounded"], false);
    assert!(v["warnings"]
        .to_string()
        .contains("not supported by the article"));

    let f = Fixture::new(&[INVENTED]);
    f.summarize(&[&f.path("a.txt"), "--on-ungrounded", "drop"])
        .assert()
        .success()
        .stdout(predicate::str::contains("- Prime Minister").not())
        .stdout(predicate::str::contains("dropped key fact"));

    let f = Fixture::new(&[INVENTED]);
    f.summarize(&[&f.path("a.txt"), "--on-ungrounded", "fail"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("ungrounded"));

    let f = Fixture::new(&[INVENTED]);
    f.summarize(&[&f.path("a.txt"), "--evidence"])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "    > Flash floods killed 30 people",
        ))
        .stdout(predicate::str::contains("Karachi. [unverified]"));
}

const WRONG_SOURCE: &str = r#"{"headline": "Floods kill 30 in Swat valley", "summary": "Flash floods killed 30 people in Swat on Sunday.", "key_facts": ["Floods killed 30 people.", "Officials in Karachi said 2,600 homes were damaged.", "Roads to 14 villages were cut."]}"#;

#[test]
fn unsupported_fact_is_rewritten_from_its_evidence_and_shown() {
    let rewrite = "The provincial disaster authority said 2,600 homes were damaged.";
    let f = Fixture::new(&[WRONG_SOURCE, rewrite]);
    let v = json_stdout(f.summarize(&[&f.path("a.txt"), "--format", "json"]));
    assert_eq!(v["key_facts"][1], rewrite);
    let c = &v["fact_checks"][1];
    assert_eq!(c["grounded"], true);
    assert_eq!(
        c["regenerated_from"],
        "Officials in Karachi said 2,600 homes were damaged."
    );
    assert_eq!(v["passes"][1]["stage"], "refact");
    assert!(v["warnings"]
        .to_string()
        .contains("regenerated from its evidence"));

    let f = Fixture::new(&[WRONG_SOURCE, rewrite]);
    f.summarize(&[&f.path("a.txt"), "--evidence", "--format", "markdown"])
        .assert()
        .success()
        .stdout(predicate::str::contains(format!("- {rewrite}\n")))
        .stdout(predicate::str::contains(
            "(rewritten from its evidence; the model first wrote: Officials in Karachi",
        ));

    // Turned off: one model call, the fact stays and is flagged.
    let f = Fixture::new(&[WRONG_SOURCE]);
    f.summarize(&[&f.path("a.txt"), "--no-regenerate"])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "Karachi said 2,600 homes were damaged. [unverified]",
        ));
}

#[test]
fn summarize_translate_adds_a_checked_urdu_translation() {
    let f = Fixture::new(&[
        DIGEST,
        "سوات وادی میں سیلاب سے 30 افراد ہلاک",
        "اتوار کو سوات میں سیلاب سے 30 افراد ہلاک ہو گئے۔",
        // Loses 2,600: retried, and the retry keeps it.
        "گھروں کو نقصان پہنچا۔",
        "2,600 گھروں کو نقصان پہنچا۔",
        "سیلاب سے 30 افراد ہلاک ہوئے۔",
        "2,600 گھروں کو نقصان پہنچا۔",
        "14 دیہات کی سڑکیں کٹ گئیں۔",
    ]);
    let v = json_stdout(f.summarize(&[
        &f.path("a.txt"),
        "--format",
        "json",
        "--translate",
        "ur",
        "--digits",
        "native",
    ]));
    let t = &v["translations"][0];
    assert_eq!(t["lang"], "ur");
    assert_eq!(t["dir"], "rtl");
    assert_eq!(t["backend"], "llm");
    assert_eq!(t["licence"], "none");
    assert_eq!(t["retried"], 1);
    assert!(t.get("flags").is_none(), "{t}");
    assert_eq!(t["headline"], "سوات وادی میں سیلاب سے ۳۰ افراد ہلاک");
    assert_eq!(
        t["summary"],
        "اتوار کو سوات میں سیلاب سے ۳۰ افراد ہلاک ہو گئے۔ ۲,۶۰۰ گھروں کو نقصان پہنچا۔"
    );
    assert_eq!(t["key_facts"].as_array().unwrap().len(), 3);
}

#[test]
fn translate_leaves_out_and_flags_urdu_given_for_pashto() {
    let urdu = "اتوار کو سوات میں سیلاب سے 30 افراد ہلاک ہو گئے۔";
    let f = Fixture::new(&[urdu, urdu]);
    std::fs::write(
        f.path("s.txt"),
        "Flash floods killed 30 people in Swat on Sunday.\n",
    )
    .unwrap();
    let model = format!("scripted:{}", f.path("replies.json"));
    let out = f
        .cmd()
        .args([
            "translate",
            &f.path("s.txt"),
            "--to",
            "ps",
            "--model",
            &model,
            "--format",
            "json",
        ])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["lang"], "ps");
    assert_eq!(v["text"], "");
    assert_eq!(v["flags"][0]["dropped"], true);
    assert!(v["flags"][0]["problem"].as_str().unwrap().contains("Urdu"));
    // A seq2seq backend that cannot be fetched is a one-line error naming what to do.
    f.cmd()
        .args([
            "translate",
            &f.path("s.txt"),
            "--to",
            "ur",
            "--translator",
            "nllb-200-distilled-600m",
            "--offline",
        ])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--translator-dir"));
    // An unknown translator is named in the error.
    f.cmd()
        .args([
            "translate",
            &f.path("s.txt"),
            "--to",
            "ps",
            "--translator",
            "nope",
        ])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("unknown translation model"));
}

/// A first run waits for the process already fetching the same model (the
/// cache's lock file), then goes on: here, offline, to the one-line error.
#[test]
fn a_second_first_run_waits_for_the_download_in_progress() {
    let f = Fixture::new(&[DIGEST]);
    let locks = f.dir.path().join("hf/hub/.khulasa-locks");
    std::fs::create_dir_all(&locks).unwrap();
    let lock = std::fs::File::create(locks.join("qwen2.5-coder-0.5b-instruct.lock")).unwrap();
    lock.lock().unwrap();
    let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("khulasa"));
    cmd.env_clear()
        .envs(f.env())
        .args([
            "summarize",
            &f.path("a.txt"),
            "--model",
            "qwen2.5-coder-0.5b-instruct",
            "--offline",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    assert!(
        child.try_wait().unwrap().is_none(),
        "the second run did not wait for the lock"
    );
    drop(lock);
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("another khulasa process is fetching"), "{err}");
    assert!(err.contains("offline"), "{err}");
    assert_eq!(out.status.code(), Some(2), "{err}");
}
