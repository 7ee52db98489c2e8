//! The HTML report at 2,000 and 100,000 versions: how long rendering takes, how big the page
//! is, and how long headless Chromium takes to open it — from navigation start to the page's
//! script done (read from the page's `data-ms`), and the wall time of a `--dump-dom` run
//! against the same run on a blank page, measured in the same process. The budget: opened in
//! under 2 s at 2,000 entries; at 100,000 the page is bounded (see README, "For auditors").
//!
//! Run: `cargo bench --bench report` (needs /usr/bin/chromium for the opening times);
//! `PROMPTRAIL_BENCH_REPORT_SIZES=2000,20000` picks other sizes (prompts = versions / 4,
//! at most 2,000).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use promptrail::report::export::{DeployRow, ExportModel, LiveSpan, PromptTimeline, VersionRow};
use promptrail::report::html;

fn at(minute: usize) -> String {
    chrono::DateTime::from_timestamp(1_700_000_000 + minute as i64 * 600, 0)
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// `versions` versions over `versions / 4` prompts (at most 2,000), every prompt moved once
/// halfway, every eighth version unapproved, a deployment to production after every tenth.
fn model(versions: usize) -> ExportModel {
    let prompts = (versions / 4).clamp(1, 2_000);
    let mut timelines: Vec<PromptTimeline> = vec![PromptTimeline::default(); prompts];
    let mut live: Vec<LiveSpan> = Vec::new();
    let mut open: BTreeMap<usize, usize> = BTreeMap::new();
    for n in 0..versions {
        let p = n % prompts;
        let dir = if n < versions / 2 {
            "patterns"
        } else {
            "data/patterns"
        };
        let path = format!("{dir}/p{p:05}/system.md");
        let t = &mut timelines[p];
        t.note_name(&path);
        let version = t.versions.len() as u32 + 1;
        t.versions.push(VersionRow {
            path: path.clone(),
            version,
            change: if version == 1 { "added" } else { "modified" }.into(),
            entry: n as u64,
            landed_at: at(n),
            commit: format!("{n:040x}"),
            authors: vec![format!("Author {}", n % 23)],
            approvers: vec!["@reviewer".into()],
            approved: n % 8 != 0,
            diff: Some(format!(
                "--- a/{path}\n+++ b/{path}\n@@ -1,3 +1,3 @@\n You are a helpful assistant.\n-Answer in {version} lines.\n+Answer in {} lines.\n Be brief.\n",
                version + 1
            )),
        });
        if n % 10 == 9 {
            let now = at(n);
            if let Some(&i) = open.get(&p) {
                live[i].until = Some(now.clone());
            }
            open.insert(p, live.len());
            live.push(LiveSpan {
                path: path.clone(),
                version,
                from: now.clone(),
                until: None,
                entry: n as u64,
            });
            t.deployments.push(DeployRow {
                path,
                environment: "production".into(),
                event: "deployment".into(),
                version,
                entry: n as u64,
                at: now,
                actor: "deploy-bot".into(),
                replaces: None,
            });
        }
    }
    let prompts = timelines
        .into_iter()
        .filter_map(|t| Some((t.names.last()?.clone(), t)))
        .collect();
    ExportModel {
        generated_at: at(versions + 10),
        branch: "promptrail/audit".into(),
        origin: Some("github.com/acme/patterns".into()),
        verification: None,
        trusted_keys: vec![],
        checkpoint: None,
        entries: vec![],
        prompts,
        live: BTreeMap::from([("production".to_owned(), live)]),
    }
}

/// The best of three `--dump-dom` runs: wall time and the serialised DOM.
fn open(browser: &str, page: &Path) -> (Duration, String) {
    let mut best: Option<(Duration, String)> = None;
    for _ in 0..3 {
        let profile = tempfile::TempDir::new().unwrap();
        let t = Instant::now();
        let out = Command::new(browser)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--dump-dom",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg(format!("file://{}", page.display()))
            .output()
            .unwrap();
        let wall = t.elapsed();
        assert!(out.status.success());
        if best.as_ref().is_none_or(|(b, _)| wall < *b) {
            best = Some((wall, String::from_utf8_lossy(&out.stdout).into_owned()));
        }
    }
    best.unwrap()
}

fn main() {
    let sizes: Vec<usize> = std::env::var("PROMPTRAIL_BENCH_REPORT_SIZES")
        .ok()
        .map(|s| s.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![2_000, 100_000]);
    let dir = tempfile::TempDir::new().unwrap();
    let browser = Path::new("/usr/bin/chromium")
        .exists()
        .then_some("/usr/bin/chromium");
    let blank = dir.path().join("blank.html");
    std::fs::write(&blank, "<!doctype html><title>blank</title><p>blank").unwrap();
    let blank_wall = browser.map(|b| open(b, &blank).0);
    if let Some(w) = blank_wall {
        println!(
            "baseline: a blank page opens in {:.2} s (headless Chromium, wall)",
            w.as_secs_f64()
        );
    } else {
        println!("no /usr/bin/chromium: render times and sizes only");
    }
    for n in sizes {
        let m = model(n);
        let t = Instant::now();
        let page = html::html(&m);
        let render = t.elapsed();
        let file = dir.path().join(format!("report-{n}.html"));
        std::fs::write(&file, &page).unwrap();
        print!(
            "{n:>7} versions, {:>5} prompts: rendered in {:.3} s, {:.2} MB ({} bytes a version)",
            m.prompts.len(),
            render.as_secs_f64(),
            page.len() as f64 / 1e6,
            page.len() / n.max(1)
        );
        if let (Some(b), Some(base)) = (browser, blank_wall) {
            let (wall, dom) = open(b, &file);
            let ms: u64 = dom
                .split("data-ms=\"")
                .nth(1)
                .and_then(|s| s.split('"').next())
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            print!(
                "; opened: script done at {:.2} s after navigation start, wall {:.2} s = {:.2}x the blank page (budget 2 s at 2,000)",
                ms as f64 / 1e3,
                wall.as_secs_f64(),
                wall.as_secs_f64() / base.as_secs_f64()
            );
        }
        println!();
    }
}
