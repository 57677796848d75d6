//! The shell blocks of docs/operations.md, read out of the document and run as written.

use std::path::Path;
use std::process::Command;

use crate::repo_root;

/// The shell block of docs/operations.md whose first line is `# runbook: {name}`, unindented.
pub fn runbook_block(name: &str) -> String {
    let doc = std::fs::read_to_string(repo_root().join("docs/operations.md")).unwrap();
    let marker = format!("# runbook: {name}");
    let lines: Vec<&str> = doc.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.trim() == marker)
        .unwrap_or_else(|| panic!("docs/operations.md has no block marked {marker:?}"));
    assert_eq!(lines[at - 1].trim(), "```sh", "{marker:?} opens a sh block");
    let indent = lines[at].len() - lines[at].trim_start().len();
    let body: Vec<&str> = lines[at..]
        .iter()
        .take_while(|l| l.trim() != "```")
        .map(|l| l.get(indent..).unwrap_or(l.trim_start()))
        .collect();
    assert!(at + body.len() < lines.len(), "{marker:?}: block not closed");
    body.join("\n") + "\n"
}

/// Runs the block `name` with `sh`, each `(placeholder, value)` replaced in order.
pub fn run_block(name: &str, substitutions: &[(&str, String)], cwd: &Path) {
    let mut script = runbook_block(name);
    for (from, to) in substitutions {
        assert!(script.contains(from), "block {name} has no {from:?}");
        script = script.replace(from, to);
    }
    let out = Command::new("sh")
        .arg("-c")
        .arg(&script)
        .current_dir(cwd)
        .output()
        .expect("run sh");
    assert!(
        out.status.success(),
        "block {name} failed ({}):\n{script}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
