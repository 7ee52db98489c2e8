//! The self-contained HTML report: one file, inline CSS, no network.

use std::fmt::Write as _;

use super::export::ExportModel;

pub(crate) fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

const CSS: &str = "body{font:15px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:72rem;color:#1b1f24;padding:0 1rem}
h1{font-size:1.6rem}h2{margin-top:2.2rem;border-bottom:1px solid #d0d7de;padding-bottom:.3rem}
table{border-collapse:collapse;width:100%;margin:.6rem 0}th,td{border:1px solid #d0d7de;padding:.3rem .5rem;text-align:left;vertical-align:top}
th{background:#f6f8fa}code,pre{font-family:ui-monospace,monospace;font-size:13px}
pre{background:#f6f8fa;padding:.6rem;overflow:auto;border-radius:6px}
.ok{color:#1a7f37;font-weight:600}.bad{color:#cf222e;font-weight:600}.muted{color:#57606a}
.add{color:#1a7f37}.del{color:#cf222e}details{margin:.3rem 0}";

/// One self-contained HTML page.
pub fn html(m: &ExportModel) -> String {
    let mut o = String::new();
    let title = format!(
        "Prompt audit report: {}",
        m.origin.as_deref().unwrap_or(&m.branch)
    );
    let _ = write!(
        o,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title><style>{CSS}</style></head><body>",
        esc(&title)
    );
    let _ = write!(o, "<h1>{}</h1>", esc(&title));
    let status_class = if m.verification.as_ref().is_some_and(|r| r.ok) {
        "ok"
    } else {
        "bad"
    };
    let _ = write!(
        o,
        "<p>Generated {} from the audit branch <code>{}</code>: {} entries. Verification: <span id=\"verification\" class=\"{status_class}\">{}</span>.</p>",
        esc(&m.generated_at),
        esc(&m.branch),
        m.entries.len(),
        m.verified()
    );
    o.push_str("<h2>Verification</h2><ul>");
    for k in &m.trusted_keys {
        let _ = write!(o, "<li>trusted key <code>{}</code></li>", esc(k));
    }
    if let Some(r) = &m.verification {
        for (k, n) in &r.signed_by {
            let _ = write!(
                o,
                "<li>{n} entries signed by key <code>{}</code></li>",
                esc(k)
            );
        }
        for f in &r.findings {
            let _ = write!(
                o,
                "<li class=\"bad\">{} {} {}: {} (expected {}, found {})</li>",
                f.code,
                f.check.name(),
                f.entry.map_or("log".into(), |e| format!("entry {e}")),
                esc(&f.message),
                esc(&f.expected),
                esc(&f.found)
            );
        }
    }
    o.push_str("</ul>");
    if let Some(cp) = &m.checkpoint {
        let _ = write!(o, "<p>Signed checkpoint:</p><pre>{}</pre>", esc(cp));
    }
    for (env, spans) in &m.live {
        let _ = write!(
            o,
            "<h2>What was live in {}</h2><table><tr><th>prompt</th><th>version</th><th>live from</th><th>until</th><th>entry</th></tr>",
            esc(env)
        );
        for s in spans {
            let _ = write!(
                o,
                "<tr><td><code>{}</code></td><td>v{}</td><td>{}</td><td>{}</td><td>#{}</td></tr>",
                esc(&s.path),
                s.version,
                esc(&s.from),
                esc(s.until.as_deref().unwrap_or("now")),
                s.entry
            );
        }
        o.push_str("</table>");
    }
    for (path, t) in &m.prompts {
        let _ = write!(o, "<h2>Timeline of <code>{}</code></h2>", esc(path));
        o.push_str("<table><tr><th>version</th><th>change</th><th>landed</th><th>commit</th><th>authors</th><th>approved by</th><th>entry</th></tr>");
        for v in &t.versions {
            let approval = if v.approved {
                format!("<span class=\"ok\">{}</span>", esc(&v.approvers.join(", ")))
            } else {
                "<span class=\"bad\">not approved</span>".into()
            };
            let _ = write!(
                o,
                "<tr><td>v{}</td><td>{}</td><td>{}</td><td><code>{}</code></td><td>{}</td><td>{approval}</td><td>#{}</td></tr>",
                v.version,
                esc(&v.change),
                esc(&v.landed_at),
                esc(&v.commit[..12.min(v.commit.len())]),
                esc(&v.authors.join(", ")),
                v.entry
            );
            if let Some(d) = &v.diff {
                let _ = write!(
                    o,
                    "<tr><td colspan=\"7\"><details><summary>diff of v{}</summary><pre>",
                    v.version
                );
                for line in d.lines() {
                    let class = match line.as_bytes().first() {
                        Some(b'+') => "add",
                        Some(b'-') => "del",
                        _ => "",
                    };
                    let _ = writeln!(o, "<span class=\"{class}\">{}</span>", esc(line));
                }
                o.push_str("</pre></details></td></tr>");
            }
        }
        o.push_str("</table>");
        if !t.deployments.is_empty() {
            o.push_str("<table><tr><th>environment</th><th>event</th><th>version</th><th>when</th><th>by</th><th>entry</th></tr>");
            for d in &t.deployments {
                let _ = write!(
                    o,
                    "<tr><td>{}</td><td>{}{}</td><td>v{}</td><td>{}</td><td>{}</td><td>#{}</td></tr>",
                    esc(&d.environment),
                    esc(&d.event),
                    d.replaces
                        .map(|r| format!(" (replaces v{r})"))
                        .unwrap_or_default(),
                    d.version,
                    esc(&d.at),
                    esc(&d.actor),
                    d.entry
                );
            }
            o.push_str("</table>");
        }
    }
    o.push_str("<p class=\"muted\">Made by promptrail. Every row comes from a signed entry of the audit branch.</p></body></html>\n");
    o
}
