//! `khulasa batch`, `merge` and `newsletter` through the binary, with a
//! scripted generator: failures, resume after SIGTERM and SIGKILL, shards.

use std::path::{Path, PathBuf};
use std::process::{Child, Command as StdCommand, Stdio};
use std::time::Duration;

use assert_cmd::cargo::CommandCargoExt;

const DIGEST: &str = r#"{"headline": "Officials report an event", "summary": "Officials reported an event.", "key_facts": ["It happened.", "Officials spoke.", "People watched."]}"#;

fn setup(n: usize, delay_ms: u64) -> (tempfile::TempDir, PathBuf, String) {
    let d = tempfile::tempdir().unwrap();
    let wire = d.path().join("wire");
    std::fs::create_dir(&wire).unwrap();
    for i in 0..n {
        std::fs::write(
            wire.join(format!("story{i:03}.txt")),
            format!("Story {i} was reported by officials today. It was a big event."),
        )
        .unwrap();
    }
    std::fs::write(wire.join("empty.txt"), "").unwrap();
    std::fs::write(wire.join("binary.txt"), b"\x00\x01\x02").unwrap();
    std::fs::write(wire.join("latin1.txt"), b"caf\xe9 story").unwrap();
    let script = d.path().join("script.json");
    let body = serde_json::json!({"replies": [DIGEST], "cycle": true, "delay_ms": delay_ms});
    std::fs::write(&script, body.to_string()).unwrap();
    let model = format!("scripted:{}", script.display());
    (d, wire, model)
}

fn batch(dir: &Path, wire: &Path, model: &str, out: &str, extra: &[&str]) -> StdCommand {
    let mut c = StdCommand::cargo_bin("khulasa").unwrap();
    c.env_clear()
        .env("HOME", dir)
        .args(["batch", wire.to_str().unwrap(), "--out"])
        .arg(dir.join(out))
        .args(["--model", model])
        .args(extra);
    c
}

fn digest_ids(out: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(out.join("digests.jsonl")).unwrap_or_default();
    text.lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["batch"]["id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect()
}

fn report(out: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap()
}

fn wait_for_digests(child: &mut Child, out: &Path, at_least: usize) {
    for _ in 0..400 {
        let n = std::fs::read_dir(out.join("digests"))
            .map(|r| r.count())
            .unwrap_or(0);
        if n >= at_least {
            return;
        }
        assert!(child.try_wait().unwrap().is_none(), "batch ended early");
        std::thread::sleep(Duration::from_millis(25));
    }
    panic!("no progress");
}

#[test]
fn broken_inputs_are_reported_and_the_batch_goes_on() {
    let (d, wire, model) = setup(4, 0);
    let out = batch(d.path(), &wire, &model, "out", &["--quiet"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = report(&d.path().join("out"));
    assert_eq!(r["succeeded"], 4);
    let failed = r["failed"].as_array().unwrap();
    assert_eq!(failed.len(), 3);
    for f in failed {
        assert!(
            !f["reason"].as_str().unwrap().is_empty()
                && f["path"].as_str().unwrap().contains("wire")
        );
    }
    assert_eq!(digest_ids(&d.path().join("out")).len(), 4);
}

#[test]
fn sigterm_stops_cleanly_and_a_rerun_finishes_without_duplicates() {
    let (d, wire, model) = setup(30, 150);
    let out = d.path().join("out");
    let mut child = batch(d.path(), &wire, &model, "out", &["--quiet"])
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for_digests(&mut child, &out, 2);
    StdCommand::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    let r = report(&out);
    assert_eq!(r["interrupted"], true);
    let done = digest_ids(&out).len();
    assert!((2..30).contains(&done), "{done}");
    assert_eq!(r["pending"].as_array().unwrap().len() + done, 30);
    let fast = model.replace("150", "0");
    std::fs::write(
        d.path().join("script.json"),
        serde_json::json!({"replies": [DIGEST], "cycle": true}).to_string(),
    )
    .unwrap();
    let again = batch(d.path(), &wire, &fast, "out", &["--quiet"])
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(1));
    let ids = digest_ids(&out);
    let mut unique = ids.clone();
    unique.dedup();
    assert_eq!((ids.len(), unique.len()), (30, 30));
    assert_eq!(report(&out)["skipped_existing"], done);
}

#[test]
fn sigkill_loses_at_most_the_article_in_flight() {
    let (d, wire, model) = setup(30, 100);
    let out = d.path().join("out");
    let mut child = batch(d.path(), &wire, &model, "out", &["--quiet"])
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for_digests(&mut child, &out, 3);
    child.kill().unwrap();
    child.wait().unwrap();
    let before = std::fs::read_dir(out.join("digests"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "json")
        })
        .count();
    std::fs::write(
        d.path().join("script.json"),
        serde_json::json!({"replies": [DIGEST], "cycle": true}).to_string(),
    )
    .unwrap();
    let again = batch(d.path(), &wire, &model, "out", &["--quiet"])
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(1));
    let r = report(&out);
    assert_eq!(r["succeeded"], 30);
    assert_eq!(r["skipped_existing"], before);
    assert_eq!(digest_ids(&out).len(), 30);
}

#[test]
fn a_second_batch_on_a_busy_folder_is_refused_and_the_first_finishes_alone() {
    let (d, wire, model) = setup(12, 60);
    let out = d.path().join("out");
    let mut first = batch(d.path(), &wire, &model, "out", &["--quiet"])
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for_digests(&mut first, &out, 1);
    let second = batch(d.path(), &wire, &model, "out", &["--quiet"])
        .output()
        .unwrap();
    assert_eq!(second.status.code(), Some(2));
    let err = String::from_utf8(second.stderr).unwrap();
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(
        err.contains(&format!("khulasa pid {}", first.id())) && err.contains("another --out"),
        "{err}"
    );
    std::fs::create_dir(d.path().join("elsewhere")).unwrap();
    let merged = StdCommand::cargo_bin("khulasa")
        .unwrap()
        .arg("merge")
        .arg(d.path().join("elsewhere"))
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(merged.status.code(), Some(2), "merge into a busy folder");
    assert!(String::from_utf8_lossy(&merged.stderr).contains("in use by"));
    assert_eq!(first.wait().unwrap().code(), Some(1));
    let ids = digest_ids(&out);
    let mut unique = ids.clone();
    unique.dedup();
    assert_eq!((ids.len(), unique.len()), (12, 12));
    let r = report(&out);
    assert_eq!(
        (r["succeeded"].as_u64(), r["skipped_existing"].as_u64()),
        (Some(12), Some(0))
    );
    // Once the first has finished, the folder is free again.
    let again = batch(d.path(), &wire, &model, "out", &["--quiet"])
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(1));
    assert_eq!(report(&out)["skipped_existing"], 12);
}

#[test]
fn three_local_workers_cover_the_inputs_once_and_merge() {
    let (d, wire, model) = setup(20, 0);
    let workers: Vec<Child> = (0..3)
        .map(|k| {
            batch(
                d.path(),
                &wire,
                &model,
                &format!("w{k}"),
                &["--quiet", "--shard", &format!("{k}/3")],
            )
            .spawn()
            .unwrap()
        })
        .collect();
    for mut w in workers {
        w.wait().unwrap();
    }
    let mut all: Vec<String> = (0..3)
        .flat_map(|k| digest_ids(&d.path().join(format!("w{k}"))))
        .collect();
    all.sort();
    let n = all.len();
    all.dedup();
    assert_eq!((n, all.len()), (20, 20), "shards overlap or miss items");
    let mut merge = StdCommand::cargo_bin("khulasa").unwrap();
    merge
        .arg("merge")
        .args((0..3).map(|k| d.path().join(format!("w{k}"))))
        .arg("--out")
        .arg(d.path().join("all"));
    assert_eq!(merge.output().unwrap().status.code(), Some(1));
    assert_eq!(digest_ids(&d.path().join("all")).len(), 20);
    assert_eq!(
        report(&d.path().join("all"))["failed"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
}

#[test]
fn parallel_lanes_are_bounded_and_one_at_a_time_gives_the_same_digests() {
    let (d, wire, model) = setup(6, 0);
    for bad in ["0", "9", "x"] {
        let out = batch(d.path(), &wire, &model, "bad", &["--parallel", bad])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "--parallel {bad}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("--parallel"));
    }
    for (dir, n) in [("one", "1"), ("three", "3")] {
        let out = batch(d.path(), &wire, &model, dir, &["--quiet", "--parallel", n])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{n}: three inputs are broken");
        assert_eq!(report(&d.path().join(dir))["succeeded"], 6);
    }
    let text =
        |dir: &str| std::fs::read_to_string(d.path().join(dir).join("digests.jsonl")).unwrap();
    let strip = |t: String| -> Vec<serde_json::Value> {
        t.lines()
            .map(|l| {
                let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
                v.as_object_mut().unwrap().remove("timings");
                v.as_object_mut().unwrap().remove("created");
                v
            })
            .collect()
    };
    assert_eq!(strip(text("one")), strip(text("three")));
}
