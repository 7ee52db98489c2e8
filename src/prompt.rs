//! Prompt discovery: which repository paths are prompts, and which contents are acceptable.

use globset::{GlobBuilder, GlobMatcher, GlobSet, GlobSetBuilder};

use crate::config::{GlobPattern, PromptsConfig};
use crate::types::PromptPath;

/// Decides whether a repository path is a prompt.
#[derive(Debug, Clone)]
pub struct PromptMatcher {
    include: GlobSet,
    exclude: GlobSet,
    patterns: Vec<String>,
    /// Each include pattern split at `/`, to decide which directories can hold a prompt.
    components: Vec<Option<Vec<Component>>>,
    max_bytes: u64,
}

/// One `/`-separated part of an include pattern.
#[derive(Debug, Clone)]
enum Component {
    /// `**`: any number of path components, none included.
    AnyDepth,
    /// Anything else, matched against one name.
    Name(GlobMatcher),
}

/// The components of `pattern`, or `None` when it cannot be split at `/` faithfully (a `/`
/// inside braces or brackets): such a pattern may match under any directory.
fn components(pattern: &str) -> Option<Vec<Component>> {
    let (mut braces, mut brackets) = (0i32, false);
    for c in pattern.chars() {
        match c {
            '{' if !brackets => braces += 1,
            '}' if !brackets => braces -= 1,
            '[' => brackets = true,
            ']' => brackets = false,
            '/' if braces != 0 || brackets => return None,
            _ => {}
        }
    }
    pattern
        .split('/')
        .map(|part| match part {
            "**" => Some(Component::AnyDepth),
            _ => GlobBuilder::new(part)
                .literal_separator(true)
                .build()
                .ok()
                .map(|g| Component::Name(g.compile_matcher())),
        })
        .collect()
}

/// True when some path strictly below the directory `dir` (its components) could match the
/// pattern `parts`: a small NFA over the pattern's components.
fn may_match_below(parts: &[Component], dir: &[&str]) -> bool {
    // Positions in `parts` reachable after consuming `dir`, closed over `**` matching nothing.
    let close = |set: &mut Vec<usize>| {
        let mut i = 0;
        while i < set.len() {
            let p = set[i];
            if matches!(parts.get(p), Some(Component::AnyDepth)) && !set.contains(&(p + 1)) {
                set.push(p + 1);
            }
            i += 1;
        }
    };
    let mut at = vec![0];
    close(&mut at);
    for name in dir {
        let mut next = Vec::new();
        for &p in &at {
            match parts.get(p) {
                Some(Component::AnyDepth) => next.push(p),
                Some(Component::Name(g)) if g.is_match(name) => next.push(p + 1),
                _ => {}
            }
        }
        next.sort_unstable();
        next.dedup();
        close(&mut next);
        if next.is_empty() {
            return false;
        }
        at = next;
    }
    // Something of the pattern is left to match a name below `dir`.
    at.iter().any(|&p| p < parts.len())
}

/// Why a prompt's content or path is refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PromptError {
    #[error(
        "{path}: file name is not valid UTF-8; prompt ids must be UTF-8 (rename the file or exclude it)"
    )]
    NonUtf8Path { path: String },
    #[error(
        "{path:?}: file name contains control characters; prompt ids must not (rename the file or exclude it)"
    )]
    ControlCharacters { path: String },
    #[error(
        "{path}: {size} bytes is over the limit of {limit} bytes (raise prompts.max_bytes or exclude the file)"
    )]
    TooLarge { path: String, size: u64, limit: u64 },
    #[error("{path}: binary content (a NUL byte); prompts must be text (exclude the file)")]
    Binary { path: String },
    #[error(
        "{path}: symbolic link to `{target}` points outside the repository; refused (commit the file itself)"
    )]
    SymlinkOutside { path: String, target: String },
}

fn compile(globs: &[GlobPattern]) -> Result<GlobSet, globset::Error> {
    let mut b = GlobSetBuilder::new();
    for g in globs {
        // `*` must not cross `/`, like gitignore and GitHub's CODEOWNERS.
        b.add(GlobBuilder::new(&g.0).literal_separator(true).build()?);
    }
    b.build()
}

impl PromptMatcher {
    pub fn new(config: &PromptsConfig) -> Result<Self, globset::Error> {
        Ok(Self {
            include: compile(&config.include)?,
            exclude: compile(&config.exclude)?,
            patterns: config.include.iter().map(|g| g.0.clone()).collect(),
            components: config.include.iter().map(|g| components(&g.0)).collect(),
            max_bytes: config.max_bytes.0,
        })
    }

    /// True when the raw git path is selected by the include globs and not excluded, or is
    /// the policy file (`.promptrail.yml`).
    pub fn matches(&self, raw_path: &[u8]) -> bool {
        // The policy file is governed like a prompt, whatever the globs say: its versions are
        // recorded, and a change takes effect only once approved.
        if raw_path == crate::config::FILE_NAME.as_bytes() {
            return true;
        }
        // Non-UTF-8 names are matched lossily so that they are reported, not silently skipped.
        let path = String::from_utf8_lossy(raw_path);
        self.include.is_match(path.as_ref()) && !self.exclude.is_match(path.as_ref())
    }

    /// True when a file below the directory `dir` (a repository path, `/`-separated) could be
    /// a prompt, whatever its name: the directories a working-tree walk must look into, and
    /// where a symbolic link could stand for a directory of prompts. Excludes are ignored
    /// (an excluded directory is still looked at), so this errs towards "yes".
    pub fn may_contain(&self, dir: &str) -> bool {
        let names: Vec<&str> = dir.split('/').filter(|n| !n.is_empty()).collect();
        self.components.iter().any(|parts| match parts {
            None => true,
            Some(parts) => may_match_below(parts, &names),
        })
    }

    /// The include patterns that match none of `paths` (for a warning).
    pub fn unmatched_patterns<'a>(&self, paths: impl Iterator<Item = &'a [u8]>) -> Vec<String> {
        let mut hit = vec![false; self.patterns.len()];
        for p in paths {
            let p = String::from_utf8_lossy(p);
            for i in self.include.matches(p.as_ref()) {
                hit[i] = true;
            }
        }
        self.patterns
            .iter()
            .zip(hit)
            .filter(|(_, h)| !h)
            .map(|(p, _)| p.clone())
            .collect()
    }

    pub fn max_bytes(&self) -> u64 {
        self.max_bytes
    }

    /// Checks a prompt file's content: size limit and text-ness.
    pub fn check_content(&self, path: &PromptPath, data: &[u8]) -> Result<(), PromptError> {
        if data.len() as u64 > self.max_bytes {
            return Err(PromptError::TooLarge {
                path: path.to_string(),
                size: data.len() as u64,
                limit: self.max_bytes,
            });
        }
        // git's own heuristic: a NUL in the first 8000 bytes means binary.
        if data.iter().take(8000).any(|b| *b == 0) {
            return Err(PromptError::Binary {
                path: path.to_string(),
            });
        }
        Ok(())
    }
}

/// Converts a raw git path into a prompt id, refusing non-UTF-8 names.
pub fn prompt_path(raw: &[u8]) -> Result<PromptPath, PromptError> {
    let path = PromptPath::from_git_bytes(raw).map_err(|path| PromptError::NonUtf8Path { path })?;
    if path.as_str().chars().any(char::is_control) {
        return Err(PromptError::ControlCharacters {
            path: path.to_string(),
        });
    }
    Ok(path)
}

/// Decides whether a symlink at `path` with link text `target` stays inside the repository.
pub fn check_symlink(path: &PromptPath, target: &[u8]) -> Result<(), PromptError> {
    let target_s = String::from_utf8_lossy(target).into_owned();
    let outside = || PromptError::SymlinkOutside {
        path: path.to_string(),
        target: target_s.clone(),
    };
    if target.starts_with(b"/") || target_s.contains('\\') || target_s.contains(':') {
        return Err(outside());
    }
    // Depth of the link's directory, then walk the target's components.
    let mut depth: i64 = path.as_str().matches('/').count() as i64;
    for comp in target_s.split('/') {
        match comp {
            "" | "." => {}
            ".." => {
                depth -= 1;
                if depth < 0 {
                    return Err(outside());
                }
            }
            _ => depth += 1,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::PositiveSize;

    fn matcher(include: &[&str], exclude: &[&str]) -> PromptMatcher {
        PromptMatcher::new(&PromptsConfig {
            include: include.iter().map(|s| GlobPattern((*s).into())).collect(),
            exclude: exclude.iter().map(|s| GlobPattern((*s).into())).collect(),
            max_bytes: PositiveSize(10),
        })
        .unwrap()
    }

    #[test]
    fn globs_select_prompts() {
        let m = matcher(&["prompts/**", "agents/*.md"], &["prompts/**/README.md"]);
        assert!(m.matches(b"prompts/a.md"));
        assert!(m.matches(b"prompts/clinical/intake.md"));
        assert!(!m.matches(b"prompts/clinical/README.md"));
        assert!(m.matches(b"agents/x.md"));
        assert!(!m.matches(b"agents/sub/x.md"), "`*` must not cross `/`");
        assert!(!m.matches(b"src/main.rs"));
    }

    #[test]
    fn directories_that_may_hold_prompts() {
        let m = matcher(
            &["prompts/**", "agents/*.md", "**/policy.txt"],
            &["prompts/x/**"],
        );
        for dir in [
            "prompts",
            "prompts/clinical",
            "prompts/x",
            "agents",
            "src",
            "a/b/c",
        ] {
            assert!(m.may_contain(dir), "{dir}");
        }
        let m = matcher(&["prompts/**", "agents/*.md", "docs/{a,b}/*.md"], &[]);
        assert!(m.may_contain("prompts/a/b"));
        assert!(m.may_contain("agents"));
        assert!(!m.may_contain("agents/sub"), "`*` does not cross `/`");
        assert!(m.may_contain("docs/a"));
        assert!(!m.may_contain("docs/c"));
        assert!(m.may_contain("docs"), "docs/a/x.md may match");
        assert!(!m.may_contain("src"));
        assert!(!m.may_contain("prompt"));
        // A `/` inside braces cannot be split: every directory may hold a match.
        let m = matcher(&["{prompts/a,b}/*.md"], &[]);
        assert!(m.may_contain("src"));
    }

    #[test]
    fn unmatched_patterns_are_reported() {
        let m = matcher(&["prompts/**", "agents/*.md"], &[]);
        let paths: [&[u8]; 1] = [b"prompts/a.md"];
        assert_eq!(m.unmatched_patterns(paths.into_iter()), vec!["agents/*.md"]);
    }

    #[test]
    fn content_limits() {
        let m = matcher(&["**"], &[]);
        let p = PromptPath::new("prompts/a.md");
        assert!(m.check_content(&p, b"hello").is_ok());
        assert!(matches!(
            m.check_content(&p, b"01234567890"),
            Err(PromptError::TooLarge { size: 11, .. })
        ));
        assert!(matches!(
            m.check_content(&p, b"a\0b"),
            Err(PromptError::Binary { .. })
        ));
    }

    #[test]
    fn symlinks_must_stay_inside() {
        let p = PromptPath::new("prompts/a/link.md");
        assert!(check_symlink(&p, b"../b.md").is_ok());
        assert!(check_symlink(&p, b"../../README.md").is_ok());
        assert!(check_symlink(&p, b"../../../etc/passwd").is_err());
        assert!(check_symlink(&p, b"/etc/passwd").is_err());
    }
}
