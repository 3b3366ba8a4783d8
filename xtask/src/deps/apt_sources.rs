//! Reads the machine's own apt configuration to find its Debian mirror, so
//! that extra suites (backports) use the same URI and no host is ever
//! written into a file of the project.

use anyhow::{bail, Result};

#[derive(Debug, Clone, PartialEq)]
pub struct Mirror {
    pub uri: String,
    pub signed_by: Option<String>,
}

/// Finds the mirror that serves the main Debian suite: deb822 stanzas
/// (`*.sources`) first, then one-line `sources.list` entries. Security
/// mirrors are skipped (they carry no backports).
pub fn find_mirror(deb822: &[String], one_line: &[String]) -> Result<Mirror> {
    for text in deb822 {
        for stanza in text.split("\n\n") {
            let field = |name: &str| {
                stanza.lines().find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    (k.trim().eq_ignore_ascii_case(name)).then(|| v.trim().to_string())
                })
            };
            let (Some(types), Some(uris), Some(suites)) = (field("Types"), field("URIs"), field("Suites")) else {
                continue;
            };
            if !types.split_whitespace().any(|t| t == "deb")
                || suites.split_whitespace().all(|s| s.ends_with("-security"))
            {
                continue;
            }
            if let Some(uri) = uris.split_whitespace().next() {
                return Ok(Mirror { uri: uri.to_string(), signed_by: field("Signed-By") });
            }
        }
    }
    for text in one_line {
        for line in text.lines().map(str::trim) {
            let mut words = line.split_whitespace();
            if words.next() != Some("deb") {
                continue;
            }
            let mut rest: Vec<&str> = words.collect();
            if rest.first().is_some_and(|w| w.starts_with('[')) {
                let end = rest.iter().position(|w| w.ends_with(']')).unwrap_or(0);
                rest.drain(..=end);
            }
            if let [uri, suite, ..] = rest[..] {
                if !suite.ends_with("-security") && uri.contains("debian") {
                    return Ok(Mirror { uri: uri.to_string(), signed_by: None });
                }
            }
        }
    }
    bail!("found no Debian mirror in /etc/apt/sources.list.d/*.sources or /etc/apt/sources.list; add the machine's Debian suite to apt first")
}

/// A deb822 stanza for one more suite on the same mirror.
pub fn stanza(mirror: &Mirror, suite: &str) -> String {
    let mut s = format!("Types: deb\nURIs: {}\nSuites: {suite}\nComponents: main\n", mirror.uri);
    if let Some(key) = &mirror.signed_by {
        s.push_str(&format!("Signed-By: {key}\n"));
    }
    s
}

/// Reads the machine's apt source files.
pub fn machine_mirror() -> Result<Mirror> {
    let mut deb822 = Vec::new();
    if let Ok(dir) = std::fs::read_dir("/etc/apt/sources.list.d") {
        let mut paths: Vec<_> = dir.filter_map(|e| e.ok().map(|e| e.path())).collect();
        paths.sort();
        for p in paths.into_iter().filter(|p| p.extension().is_some_and(|e| e == "sources")) {
            // Our own backports file is derived from the machine's, never a source of truth.
            if p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("thindist")) {
                continue;
            }
            deb822.extend(std::fs::read_to_string(&p).ok());
        }
    }
    let one_line: Vec<String> = std::fs::read_to_string("/etc/apt/sources.list").ok().into_iter().collect();
    find_mirror(&deb822, &one_line)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEB822: &str = "Types: deb\n# a comment\nURIs: http://mirror.example/debian\nSuites: bookworm bookworm-updates\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\nTypes: deb\nURIs: http://mirror.example/debian-security\nSuites: bookworm-security\nComponents: main\n";

    #[test]
    fn finds_main_mirror_in_deb822() {
        let m = find_mirror(&[DEB822.to_string()], &[]).unwrap();
        assert_eq!(m.uri, "http://mirror.example/debian");
        assert_eq!(m.signed_by.as_deref(), Some("/usr/share/keyrings/debian-archive-keyring.gpg"));
        let s = stanza(&m, "bookworm-backports");
        assert!(
            s.contains("URIs: http://mirror.example/debian\nSuites: bookworm-backports\n") && s.contains("Signed-By:"),
            "{s}"
        );
    }

    #[test]
    fn skips_security_only_and_reads_one_line_format() {
        let security_only =
            "Types: deb\nURIs: http://mirror.example/debian-security\nSuites: bookworm-security\n".to_string();
        let list = "# comment\ndeb [arch=amd64] http://mirror.example/debian bookworm main\n".to_string();
        let m = find_mirror(&[security_only], &[list]).unwrap();
        assert_eq!(m, Mirror { uri: "http://mirror.example/debian".into(), signed_by: None });
        assert!(find_mirror(&[], &[]).is_err());
    }
}
