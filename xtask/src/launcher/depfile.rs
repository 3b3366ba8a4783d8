//! A front-end compile's inputs from the compiler's own dependency
//! discovery, as recc does it: the same command run here as a `-M` pass,
//! which preprocesses only and prints every file it read; and the engine's
//! dependency file turned back into the paths a local compile writes, so
//! that fixdep makes the same `.cmd` files.

use crate::launcher::clang_args::{DEPFILE_FLAGS, WP_DEPFILE};

/// Options that write the object or name the dependency file, dropped
/// from the scan with their values (the dependency-file flags themselves
/// are `clang_args`'s).
const DROPPED_WITH_VALUE: &[&str] = &["-o", "-MF", "-MT", "-MQ"];

/// A preprocessing pass's arguments (after the compiler): the compile's
/// own, less its outputs, plus `pass` (`-M` prints the dependencies on
/// standard output). A warning kbuild makes an error must not stop a pass
/// that ignores the code generation flags.
pub fn scan_args(args: &[String], pass: &[&str]) -> Vec<String> {
    let mut out = Vec::with_capacity(args.len() + 2);
    let mut i = 0;
    while i < args.len() {
        let a = args[i].as_str();
        if DROPPED_WITH_VALUE.contains(&a) {
            i += 2;
            continue;
        }
        let glued_output = a.starts_with("-o") && a.len() > 2;
        let depfile = DEPFILE_FLAGS.contains(&a) || WP_DEPFILE.iter().any(|p| a.starts_with(p));
        if !(a == "-c" || glued_output || depfile) {
            out.push(a.to_string());
        }
        i += 1;
    }
    out.extend(pass.iter().chain(&["-Wno-unused-command-line-argument"]).map(|s| s.to_string()));
    out
}

/// A make rule as the compiler writes it.
#[derive(Debug, PartialEq)]
pub struct Rule {
    pub targets: Vec<String>,
    pub prerequisites: Vec<String>,
}

/// Reads `target: a b \` continued over lines, with make's escapes
/// (`\ `, `\#`, `$$`); None when the text is not one rule.
pub fn parse(text: &str) -> Option<Rule> {
    let joined = text.replace("\\\n", " ");
    let words = words(&joined);
    let colon = words.iter().position(|w| w.ends_with(':'))?;
    let mut targets = words[..=colon].to_vec();
    let last = targets.last_mut().expect("one word at least");
    last.pop();
    targets.retain(|t| !t.is_empty());
    Some(Rule { targets, prerequisites: words[colon + 1..].to_vec() })
}

fn words(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, chars.peek()) {
            ('\\', Some(' ' | '#')) | ('$', Some('$')) => cur.push(chars.next().expect("peeked")),
            (c, _) if c.is_whitespace() => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            (c, _) => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// The rule as clang writes it (DependencyFileGenerator): lines broken
/// before 75 columns, so that a dependency file made from the engine's
/// compile is the same bytes as a local compile's.
pub fn write(rule: &Rule) -> String {
    const MAX_COLUMNS: usize = 75;
    let mut out = String::new();
    let mut columns = 0;
    for t in &rule.targets {
        let n = t.len();
        if columns == 0 {
            columns += n;
        } else if columns + n + 2 > MAX_COLUMNS {
            columns = n + 2;
            out.push_str(" \\\n  ");
        } else {
            columns += n + 1;
            out.push(' ');
        }
        out.push_str(&escape(t));
    }
    out.push(':');
    columns += 1;
    for f in &rule.prerequisites {
        let n = f.len();
        if columns + (n + 1) + 2 > MAX_COLUMNS {
            out.push_str(" \\\n ");
            columns = 2;
        }
        out.push(' ');
        out.push_str(&escape(f));
        columns += n + 1;
    }
    out.push('\n');
    out
}

fn escape(path: &str) -> String {
    path.replace(' ', "\\ ").replace('#', "\\#").replace('$', "$$")
}

/// The engine's dependency file with each path as the local compile wrote
/// it (`local_path`: the source tree's `../src/…` absolute again).
pub fn to_local(data: &[u8], local_path: impl Fn(&str) -> String) -> Vec<u8> {
    let Some(rule) = parse(&String::from_utf8_lossy(data)) else { return data.to_vec() };
    let local = |v: Vec<String>| v.iter().map(|p| local_path(p)).collect();
    write(&Rule { targets: local(rule.targets), prerequisites: local(rule.prerequisites) }).into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::launcher::paths::TreeMap;
    use std::path::Path;

    fn v(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn the_scan_drops_outputs_and_asks_for_dependencies() {
        let a =
            v("-Wp,-MMD,mm/.x.o.d -nostdinc -I/s/include -Werror=unused-command-line-argument -c -o mm/x.o /s/mm/x.c");
        assert_eq!(
            scan_args(&a, &["-M"]),
            v("-nostdinc -I/s/include -Werror=unused-command-line-argument /s/mm/x.c -M -Wno-unused-command-line-argument")
        );
        assert_eq!(
            scan_args(&v("-MD -MF a.d -MT t -c a.S -oa.o"), &["-E", "-dI"]),
            v("a.S -E -dI -Wno-unused-command-line-argument")
        );
    }

    #[test]
    fn make_rules_are_parsed() {
        let text = "mm/x.o: /s/mm/x.c \\\n  /s/include/linux/kconfig.h include/generated/autoconf.h \\\n  /s/a\\ b.h\n";
        let rule = parse(text).unwrap();
        assert_eq!(rule.targets, ["mm/x.o"]);
        assert_eq!(
            rule.prerequisites,
            ["/s/mm/x.c", "/s/include/linux/kconfig.h", "include/generated/autoconf.h", "/s/a b.h"]
        );
        assert_eq!(parse("x.o:\n").unwrap().prerequisites, Vec::<String>::new());
        assert_eq!(parse("garbage"), None);
    }

    #[test]
    fn rules_are_written_as_clang_writes_them() {
        // Written by clang 19 (`-MD -MF`) for a file including these.
        let clang = "t.o: t.c a\\ very/long/directory/name/for/testing/line/breaks/h1.h x.h \\\n  a\\ very/long/directory/name/for/testing/line/breaks/h2.h\n";
        assert_eq!(write(&parse(clang).unwrap()), clang);
    }

    #[test]
    fn the_engines_depfile_gets_the_local_paths_back() {
        let trees = TreeMap { srctree: Path::new("/k/linux"), objtree: Path::new("/k/out") };
        let remote = "mm/x.o: ../src/mm/x.c ../src/include/linux/kconfig.h \\\n  include/generated/autoconf.h\n";
        let local = "mm/x.o: /k/linux/mm/x.c /k/linux/include/linux/kconfig.h \\\n  include/generated/autoconf.h\n";
        assert_eq!(String::from_utf8(to_local(remote.as_bytes(), |p| trees.local_path(p))).unwrap(), local);
        let in_tree = TreeMap { srctree: Path::new("/k/linux"), objtree: Path::new("/k/linux") };
        assert_eq!(
            to_local(remote.as_bytes(), |p| in_tree.local_path(p)),
            remote.as_bytes(),
            "in-tree builds use relative paths"
        );
    }
}
