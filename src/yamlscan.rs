//! A linear pre-scan of YAML text for its nesting depth, run before `serde_yaml` sees it.
//! libyaml takes seconds on deeply nested input (200 KB of `[[[[…` took 25 s) before
//! serde_yaml's own recursion limit applies, and a promptrail config never nests more than
//! a handful of levels. The estimate errs on the deep side: block levels (indentation and
//! `- ` entries) plus open flow collections (`[`, `{`) outside quotes and comments.

/// How deep a `.promptrail.yml` may nest (the deepest real one is about 5 levels).
pub const MAX_DEPTH: usize = 32;

/// Open brackets outside quotes, wherever they stand, that no config reaches.
const RAW_MAX: usize = 256;

/// Where the nesting first exceeds `max`: (line, column), both 1-based.
pub fn too_deep(text: &str, max: usize) -> Option<(usize, usize)> {
    let mut indents: Vec<usize> = Vec::new();
    let mut flow = 0usize;
    let mut raw = 0usize;
    let mut quote: Option<char> = None;
    for (n, line) in text.lines().enumerate() {
        let mut block = indents.len();
        let mut start = 0;
        if flow == 0 && quote.is_none() {
            let content = line.trim_start_matches(' ');
            if content.is_empty() || content.starts_with('#') {
                continue;
            }
            let indent = line.len() - content.len();
            while indents.last().is_some_and(|&i| i > indent) {
                indents.pop();
            }
            if indents.last() != Some(&indent) {
                indents.push(indent);
            }
            // `- - - x`: every dash opens a sequence inside the previous one.
            let mut rest = content;
            let mut dashes = 0;
            while let Some(r) = rest
                .strip_prefix("- ")
                .or_else(|| (rest == "-").then_some(""))
            {
                dashes += 1;
                rest = r.trim_start_matches(' ');
            }
            block = indents.len() + dashes;
            start = line.len() - rest.len();
            if block > max {
                return Some((n + 1, start + 1));
            }
        }
        let mut prev = ' ';
        // The last non-blank character before this one on the line (`None` at its start).
        let mut last: Option<char> = None;
        // The first character of the current word: after a tag (`!t`) or an anchor (`&a`)
        // a new token starts.
        let mut word: Option<char> = None;
        let mut escaped = false;
        for (i, c) in line.char_indices().skip_while(|(i, _)| *i < start) {
            // Where a token may start: in a flow collection after an indicator, in a block
            // after `: ` or at the start of the line. Elsewhere `[`, `{` and quotes are text
            // of a plain scalar (`a: don't [x`).
            let token_start = if flow > 0 {
                matches!(last, None | Some('[' | '{' | ',' | ':' | '?'))
            } else {
                matches!(last, None | Some(':' | '-' | '?'))
            };
            match quote {
                Some('"') if escaped => escaped = false,
                Some('"') if c == '\\' => escaped = true,
                Some(q) if c == q => quote = None,
                Some(_) => {}
                None => match c {
                    '"' | '\'' if token_start && matches!(prev, ' ' | '\t' | '[' | '{' | ',') => {
                        quote = Some(c);
                    }
                    '#' if matches!(prev, ' ' | '\t') => break,
                    '[' | '{' => {
                        // Every bracket outside quotes counts against a wide backstop, in
                        // case the token rules above misread something as plain text.
                        raw += 1;
                        if flow > 0 || token_start {
                            flow += 1;
                        }
                        if block + flow > max || raw > RAW_MAX {
                            return Some((n + 1, i + 1));
                        }
                    }
                    ']' | '}' => {
                        raw = raw.saturating_sub(1);
                        flow = flow.saturating_sub(1);
                    }
                    _ => {}
                },
            }
            prev = c;
            if c.is_whitespace() {
                if matches!(word, Some('!' | '&')) {
                    last = Some(':');
                }
                word = None;
            } else {
                word = word.or(Some(c));
                last = Some(c);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_configs_are_shallow() {
        let depth_ok = |t: &str| too_deep(t, 6).is_none();
        assert!(depth_ok(crate::config::TEMPLATE));
        assert!(depth_ok(
            "policy:\n  rules:\n    - name: clinical\n      paths: [\"prompts/clinical/**\"]\n      teams: ['it''s [ok']\n"
        ));
        assert!(depth_ok("a: don't [[[[[[[[ this is plain text\n"));
        assert!(depth_ok("a: \"[[[[[[[[[\\\" [[[[[[\"  # [[[[[[[[\n"));
    }

    #[test]
    fn deep_flow_and_block_nesting_is_found_where_it_starts() {
        assert_eq!(too_deep(&"[".repeat(100_000), 32), Some((1, 32)));
        assert_eq!(
            too_deep(&format!("a: {}", "{x: ".repeat(50)), 32),
            Some((1, 128))
        );
        let block: String = (0..40)
            .map(|i| format!("{}k{i}:\n", " ".repeat(i)))
            .collect();
        assert_eq!(too_deep(&block, 32), Some((33, 33)));
        let dashes = format!("{}x\n", "- ".repeat(40));
        assert_eq!(too_deep(&dashes, 32), Some((1, 81)));
        let multiline = format!("a: [\n{}\n", "[\n".repeat(40));
        assert!(too_deep(&multiline, 32).is_some());
        // A tag or an anchor before a flow collection does not hide it.
        assert!(too_deep(&format!("a: !t {}", "[".repeat(40)), 32).is_some());
        assert!(too_deep(&format!("a: &x {}", "[".repeat(40)), 32).is_some());
        // Brackets read as plain text still hit the backstop.
        assert!(too_deep(&format!("a: b {}", "[".repeat(300)), 32).is_some());
    }
}
