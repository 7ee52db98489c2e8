//! `promptrail export`: JSON, CSV, Markdown and a self-contained HTML page, the page rendered
//! in a real headless browser (Debian's Chromium) and read back.

mod common;

use common::*;

fn export(r: &Repo, format: &str) -> String {
    let out = r.run(&[
        "export",
        "--format",
        format,
        "--key",
        keys().public.to_str().unwrap(),
    ]);
    assert_ok(&out);
    stdout(&out)
}

#[test]
fn reports_in_every_format() {
    let r = recorded_repo();
    let json: serde_json::Value = serde_json::from_str(&export(&r, "json")).unwrap();
    assert_eq!(json["verification"]["ok"], true);
    assert_eq!(json["entries"].as_array().unwrap().len(), 4);
    let intake = &json["prompts"]["prompts/clinical/intake.md"]["versions"];
    assert_eq!(intake.as_array().unwrap().len(), 2);
    assert!(
        intake[1]["diff"]
            .as_str()
            .unwrap()
            .contains("+You are a careful clinical intake assistant.")
    );

    let csv = export(&r, "csv");
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 5, "a header and one row per event: {csv}");
    assert!(lines[0].starts_with("entry,recorded_at,event,prompt,version"));
    assert!(
        lines[4].contains(",prompts/clinical/intake.md,2,modified,"),
        "{csv}"
    );
    assert!(lines[4].contains("Ana Author; Bob Builder"), "{csv}");

    let md = export(&r, "md");
    assert!(md.contains("Verification: **verified**"), "{md}");
    assert!(md.contains("| v2 | modified |"), "{md}");
    assert!(
        md.contains("**not approved**"),
        "offline records are not approved: {md}"
    );

    // Without a key the report says so rather than claiming anything.
    let out = r.run(&["export", "--format", "md"]);
    assert_ok(&out);
    assert_stdout_has(&out, &["not verified (no trusted key given)"]);
}

#[test]
fn html_report_renders_in_a_headless_browser() {
    let r = recorded_repo();
    let page = r.dir.path().join("report.html");
    let out = r.run(&[
        "export",
        "--format",
        "html",
        "--key",
        keys().public.to_str().unwrap(),
        "--out",
        page.to_str().unwrap(),
    ]);
    assert_ok(&out);
    let html = std::fs::read_to_string(&page).unwrap();
    // Self-contained: the one inline script, no external resources.
    assert_eq!(html.matches("<script").count(), 1);
    assert!(
        !html.contains("http://") && !html.contains(" src="),
        "no external resources"
    );
    assert!(html.contains("<style>"));

    let Some(b) = common::browser::chromium() else {
        return;
    };
    let dom = b.dom(&page, "?open=p0");
    assert!(
        dom.contains("<details class=\"lineage\" id=\"p0\" open=\"\"><summary><code>prompts/clinical/intake.md</code>"),
        "{dom}"
    );
    assert!(
        dom.contains("id=\"verification\" class=\"ok\">verified</span>"),
        "{dom}"
    );
    assert!(dom.contains("diff of v2"), "{dom}");
    assert!(dom.contains("Bob Builder"), "{dom}");
    let img = b.screenshot(&page, 1200, 1600);
    assert!(img.ink() > 0.01 && img.colours(32) >= 8, "a rendered page");
}

/// `--out` naming something that is not a regular file (a FIFO here; `/dev/null` or
/// `/dev/stdout` alike) is written into, never replaced: renaming a finished temporary file
/// over it, as for a regular file, would have put a file where the pipe (or device) was.
#[cfg(unix)]
#[test]
fn export_into_a_fifo_writes_through_it_and_leaves_it_a_fifo() {
    use std::os::unix::fs::FileTypeExt as _;
    let r = recorded_repo();
    let fifo = r.dir.path().join("report.pipe");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    // The reader reports through a channel, so a broken export fails the test, never hangs it.
    let (tx, rx) = std::sync::mpsc::channel();
    {
        let fifo = fifo.clone();
        std::thread::spawn(move || tx.send(std::fs::read_to_string(fifo).unwrap()));
    }
    let out = r.run(&[
        "export",
        "--format",
        "csv",
        "--key",
        keys().public.to_str().unwrap(),
        "--out",
        fifo.to_str().unwrap(),
    ]);
    assert_ok(&out);
    let csv = rx
        .recv_timeout(std::time::Duration::from_secs(30))
        .expect("the export wrote into the FIFO");
    assert!(
        csv.starts_with("entry,recorded_at,event,prompt,version"),
        "{csv}"
    );
    assert_eq!(csv, export(&r, "csv"));
    let kind = std::fs::symlink_metadata(&fifo).unwrap().file_type();
    assert!(kind.is_fifo(), "{kind:?}");
}
