//! Where the preprocessor looks for the files a compile includes: the
//! names its files include (every directive, active or not: a superset;
//! for a file with a computed `#include MACRO`, the ones the preprocessor
//! ran, from `clang -E -dI`), and the places clang's search tries for each
//! name, in its order, up to the first file found. What those places hold
//! (a file, a directory, nothing) and the files' contents decide a
//! dependency scan's result; the scan cache reuses a scan only when all of
//! them are as they were.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::launcher::clang_args::WP_DEPFILE;
use crate::launcher::comments;

/// One include directive with a literal name.
#[derive(Debug, PartialEq, Eq)]
pub struct Include {
    pub name: String,
    /// `"name"`: the includer's own directory is searched first.
    pub quoted: bool,
    /// `#include_next`: the search goes on past the includer's own directory.
    pub next: bool,
}

/// The names a compile's files include, by how each is looked up.
#[derive(Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Names {
    /// `<name>`: the search path.
    angled: BTreeSet<String>,
    /// `"name"`, with its includer's directory: that directory first.
    quoted: BTreeSet<(String, String)>,
    /// `#include_next`: every directory of the search path may be tried.
    next: BTreeSet<String>,
}

impl Names {
    pub fn add(&mut self, includer: &str, inc: &Include) {
        if inc.next {
            self.next.insert(inc.name.clone());
        } else if inc.quoted {
            let dir = Path::new(includer).parent().map(|p| p.to_string_lossy().to_string()).unwrap_or_default();
            self.quoted.insert((dir, inc.name.clone()));
        } else {
            self.angled.insert(inc.name.clone());
        }
    }

    /// The same names with their includers' directories rewritten (`f`).
    pub fn map_dirs(&self, f: impl Fn(&str) -> String) -> Self {
        Self {
            angled: self.angled.clone(),
            quoted: self.quoted.iter().map(|(d, n)| (f(d), n.clone())).collect(),
            next: self.next.clone(),
        }
    }
}

/// What stands at a place a lookup tries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Found {
    File,
    Dir,
}

/// Why the lookups of a compile cannot be known.
#[derive(Debug, PartialEq, Eq)]
pub struct Unknowable(pub String);

/// Every `#include`, `#include_next` and `#import` in `text`, in every
/// branch, read as the preprocessor reads lines: continued lines joined,
/// comments taken out. None when a name is known only by preprocessing:
/// a computed `#include MACRO`, or a digraph or trigraph spelling of `#`.
pub fn directives(text: &[u8]) -> Option<Vec<Include>> {
    let text = lines(text);
    if starting_lines(&text, b"%:").chain(starting_lines(&text, b"??=")).next().is_some() {
        return None;
    }
    let mut out = Vec::new();
    for line in starting_lines(&text, b"#") {
        let Some((word, operand)) = directive(line) else { continue };
        if let Some(next) = include_word(word) {
            out.push(literal_name(operand, next)?);
        }
    }
    Some(out)
}

/// Whether a directive's word includes a file, and whether as `#include_next`.
fn include_word(word: &[u8]) -> Option<bool> {
    match word {
        b"include" | b"import" => Some(false),
        b"include_next" => Some(true),
        _ => None,
    }
}

/// Whether `text` has a `#line` directive (or its `# 12` form), which
/// changes the file name the preprocessor's output reports.
pub fn renames_itself(text: &[u8]) -> bool {
    let text = lines(text);
    let renames = starting_lines(&text, b"#").any(|line| {
        let rest = trim_start(&line[1..]);
        rest.starts_with(b"line") || rest.first().is_some_and(u8::is_ascii_digit)
    });
    renames
}

/// The lines whose first non-blank text is `start`, from there to the line's end.
fn starting_lines<'a>(text: &'a [u8], start: &'a [u8]) -> impl Iterator<Item = &'a [u8]> + 'a {
    memchr::memmem::find_iter(text, start).filter_map(move |at| {
        let line = memchr::memrchr(b'\n', &text[..at]).map_or(0, |n| n + 1);
        text[line..at].iter().all(|b| *b == b' ' || *b == b'\t').then(|| {
            let end = memchr::memchr(b'\n', &text[at..]).map_or(text.len(), |n| at + n);
            &text[at..end]
        })
    })
}

/// The include directives the preprocessor ran in each of `files`, read
/// from `clang -E -dI` output (each `#include` it ran, its name expanded,
/// under the line marker of the file it ran in). None when one of
/// `files` was never entered, or a directive cannot be read.
pub fn executed(output: &[u8], files: &BTreeSet<&str>) -> Option<Vec<(String, Include)>> {
    let mut current: &[u8] = b"";
    let mut entered = BTreeSet::new();
    let mut out = Vec::new();
    for line in output.split(|&b| b == b'\n') {
        if let Some(marker) = line.strip_prefix(b"# ").filter(|r| r.first().is_some_and(u8::is_ascii_digit)) {
            let name = marker.splitn(3, |&b| b == b'"').nth(1).unwrap_or(b"");
            current = name;
            if let Some(f) = std::str::from_utf8(name).ok().filter(|n| files.contains(n)) {
                entered.insert(f);
            }
        } else if line.ends_with(b"/* clang -E -dI */") {
            let file = std::str::from_utf8(current).ok().filter(|n| files.contains(n));
            if let (Some(file), Some((word, operand))) = (file, directive(line)) {
                out.push((file.to_string(), literal_name(operand, include_word(word)?)?));
            }
        }
    }
    (entered.len() == files.len()).then_some(out)
}

/// `# word rest` as the directive's word and what follows it.
fn directive(line: &[u8]) -> Option<(&[u8], &[u8])> {
    let rest = trim_start(line.strip_prefix(b"#")?);
    let end = rest.iter().position(|b| !(b.is_ascii_alphanumeric() || *b == b'_')).unwrap_or(rest.len());
    Some((&rest[..end], trim_start(&rest[end..])))
}

/// `<name>` or `"name"` at the start of an include's operand.
fn literal_name(operand: &[u8], next: bool) -> Option<Include> {
    let close = match operand.first()? {
        b'<' => b'>',
        b'"' => b'"',
        _ => return None,
    };
    let end = operand[1..].iter().position(|&b| b == close)?;
    let name = std::str::from_utf8(&operand[1..1 + end]).ok()?;
    Some(Include { name: name.to_string(), quoted: close == b'"', next })
}

/// The text as the preprocessor's lines: continued lines joined, comments out.
fn lines(text: &[u8]) -> Vec<u8> {
    comments::strip(&splice(text))
}

/// `text` with each backslash-newline taken out.
fn splice(text: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = memchr::memchr(b'\\', rest) {
        out.extend_from_slice(&rest[..i]);
        rest = &rest[i..];
        let skip = if rest.starts_with(b"\\\n") {
            2
        } else if rest.starts_with(b"\\\r\n") {
            3
        } else {
            out.push(b'\\');
            1
        };
        rest = &rest[skip..];
    }
    out.extend_from_slice(rest);
    out
}

fn trim_start(s: &[u8]) -> &[u8] {
    let n = s.iter().take_while(|b| **b == b' ' || **b == b'\t').count();
    &s[n..]
}

/// The directories a command searches, and the files it includes by flag.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct SearchPath {
    /// `-I`, then `-isystem`, then `-idirafter` directories: clang's order for every name.
    dirs: Vec<String>,
    /// `-iquote`: searched for quoted names only, before `dirs`.
    quote_dirs: Vec<String>,
    /// `-include`, `-imacros`: looked up from the working directory first.
    forced: Vec<String>,
}

/// Flags whose value is the next argument and never a search directory.
const VALUE_FLAGS: &[&str] = &["-o", "-MF", "-MT", "-MQ", "-x", "-mllvm", "-target", "-D", "-U"];

impl SearchPath {
    /// The search path of a compile's arguments. Only a command that
    /// names every directory itself (`-nostdinc`) and uses no other way to
    /// add one (`-iprefix`, `-Xclang`, `CPATH`, …) has a known path.
    pub fn of(args: &[String]) -> Result<Self, Unknowable> {
        match Self::named(args) {
            (path, None) => Ok(path),
            (_, Some(why)) => Err(why),
        }
    }

    /// The directories and files the arguments name, whether or not they
    /// are the whole search path, and the first reason they may not be.
    pub fn named(args: &[String]) -> (Self, Option<Unknowable>) {
        let mut unknown = None;
        let mut because = |why: String| _ = unknown.get_or_insert(Unknowable(why));
        if !args.iter().any(|a| a == "-nostdinc") {
            because("the compiler's own include directories are searched (no -nostdinc)".into());
        }
        if let Some(v) = ["CPATH", "C_INCLUDE_PATH", "CPLUS_INCLUDE_PATH", "OBJC_INCLUDE_PATH"]
            .into_iter()
            .find(|v| std::env::var_os(v).is_some())
        {
            because(format!("{v} adds include directories"));
        }
        let (mut angled, mut system, mut after) = (Vec::new(), Vec::new(), Vec::new());
        let mut path = Self::default();
        let mut i = 0;
        while i < args.len() {
            let a = args[i].as_str();
            let mut value = |flag: &str| -> Option<String> {
                let glued = a.strip_prefix(flag)?;
                if glued.is_empty() {
                    i += 1;
                    args.get(i).cloned()
                } else {
                    Some(glued.to_string())
                }
            };
            if VALUE_FLAGS.contains(&a) {
                i += 1;
            } else if a == "-I-"
                || a.starts_with("-I=")
                || a.starts_with("-isystem-after")
                || a.starts_with("-include-p")
            {
                because(format!("`{a}`"));
            } else if let Some(d) = value("-I") {
                angled.push(d);
            } else if let Some(d) = value("-isystem") {
                system.push(d);
            } else if let Some(d) = value("-idirafter") {
                after.push(d);
            } else if let Some(d) = value("-iquote") {
                path.quote_dirs.push(d);
            } else if let Some(f) = value("-include").or_else(|| value("-imacros")) {
                path.forced.push(f);
            } else if a.starts_with("-i")
                || a.starts_with("--include")
                || a.starts_with("-F")
                || a.starts_with("-Xclang")
                || a.starts_with("-Xpreprocessor")
                || a.starts_with("-fmodule")
                || (a.starts_with("-Wp,") && !WP_DEPFILE.iter().any(|p| a.starts_with(p)))
            {
                because(format!("`{a}` may add include directories"));
            }
            i += 1;
        }
        // clang drops an -I directory that is also a system one, which moves it in the order.
        let real = |d: &String| std::fs::canonicalize(d).ok();
        let system_dirs: BTreeSet<_> = system.iter().chain(&after).filter_map(real).collect();
        if angled.iter().filter_map(real).any(|d| system_dirs.contains(&d)) {
            because("a directory is both an -I and a system directory".into());
        }
        path.dirs = [angled, system, after].concat();
        (path, unknown)
    }

    /// Every directory the search names (`-iquote` ones too), as written.
    pub fn directories(&self) -> impl Iterator<Item = &str> {
        self.quote_dirs.iter().chain(&self.dirs).map(String::as_str)
    }

    /// Looks every name up as clang does, in its order, and notes what
    /// each place tried holds, up to the first file (`#include_next`:
    /// every place, as where it starts depends on the includer).
    pub fn probe(&self, names: &Names) -> BTreeMap<String, Found> {
        let mut found = BTreeMap::new();
        let mut look = |places: &mut dyn Iterator<Item = String>, first_file_ends: bool| {
            for place in places {
                let Ok(m) = std::fs::metadata(&place) else { continue };
                let is_file = !m.is_dir();
                found.insert(place, if is_file { Found::File } else { Found::Dir });
                if is_file && first_file_ends {
                    return;
                }
            }
        };
        let search = |name: &str| -> Vec<String> {
            match Path::new(name).is_absolute() {
                true => vec![name.to_string()],
                false => self.dirs.iter().map(|d| join(d, name)).collect(),
            }
        };
        let quoted = |dir: &str, name: &str| -> Vec<String> {
            if Path::new(name).is_absolute() {
                return vec![name.to_string()];
            }
            let own = std::iter::once(join(dir, name));
            own.chain(self.quote_dirs.iter().map(|d| join(d, name))).chain(search(name)).collect()
        };
        for f in &self.forced {
            look(&mut quoted("", f).into_iter(), true);
        }
        for (dir, name) in &names.quoted {
            look(&mut quoted(dir, name).into_iter(), true);
        }
        for name in &names.angled {
            look(&mut search(name).into_iter(), true);
        }
        for name in &names.next {
            let quote_dirs = self.quote_dirs.iter().map(|d| join(d, name));
            look(&mut quote_dirs.chain(search(name)), false);
        }
        found
    }
}

fn join(dir: &str, name: &str) -> String {
    match dir {
        "" => name.to_string(),
        d => format!("{}/{name}", d.trim_end_matches('/')),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(args: &[&str]) -> Vec<String> {
        args.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn every_literal_directive_is_read() {
        let text = b"#include <linux/a.h>\n  #  include_next \"b.h\" // x\n#ifdef X\n#import<c.h>\n#endif\n#define INC <d.h>\n/* #include <e.h> */\n#includes\n/* c */ #include <f.h>\n#\\\ninclude \\\n<g.h>\n#include /* c */ <h.h>\n";
        let got: Vec<(String, bool, bool)> =
            directives(text).unwrap().into_iter().map(|i| (i.name, i.quoted, i.next)).collect();
        let want = [
            ("linux/a.h", false, false),
            ("b.h", true, true),
            ("c.h", false, false),
            ("f.h", false, false),
            ("g.h", false, false),
            ("h.h", false, false),
        ];
        assert_eq!(got, want.map(|(n, q, x)| (n.to_string(), q, x)), "inactive branches too: a superset");
    }

    #[test]
    fn a_computed_directive_is_known_only_by_preprocessing() {
        assert!(directives(b"#include TRACE_INCLUDE(TRACE_INCLUDE_FILE)\n").is_none());
        assert!(directives(b"#include <a.h\n").is_none());
        assert!(directives(b"%:include <a.h>\n").is_none());
        assert!(directives(b"#define X 1\n#if X\n#endif\n").unwrap().is_empty());
        assert!(renames_itself(b"#line 5 \"x.h\"\n") && renames_itself(b"  # 12 \"x.h\"\n"));
        assert!(!renames_itself(b"#define line 1\n#if LINE\n#endif\n"));
    }

    #[test]
    fn executed_directives_are_read_per_file() {
        let out = b"# 1 \"a.c\"\n# 1 \"<built-in>\" 1\n# 1 \"a.c\" 2\n#include <inc/x.h> /* clang -E -dI */\n# 3 \"a.c\"\n# 1 \"./inc/x.h\" 1\n#include \"in_x.h\" /* clang -E -dI */\nint x;\n# 4 \"a.c\" 2\n#include \"inc/y.h\" /* clang -E -dI */\n";
        let got = executed(out, &["a.c"].into()).unwrap();
        let got: Vec<(&str, &str, bool)> = got.iter().map(|(f, i)| (f.as_str(), i.name.as_str(), i.quoted)).collect();
        assert_eq!(got, [("a.c", "inc/x.h", false), ("a.c", "inc/y.h", true)]);
        assert!(executed(out, &["a.c", "./inc/z.h"].into()).is_none(), "a file never entered");
    }

    #[test]
    fn the_search_path_is_every_directory_named() {
        let args = v(&[
            "-Wp,-MMD,a/.b.o.d",
            "-nostdinc",
            "-I./arch/x86/include",
            "-I",
            "./include",
            "-isystem",
            "/s",
            "-iquote",
            "q",
            "-include",
            "./include/linux/kconfig.h",
            "-D",
            "-iX",
            "-o",
            "-ifoo.o",
            "-c",
            "a/b.c",
        ]);
        let p = SearchPath::of(&args).unwrap();
        assert_eq!(p.dirs, ["./arch/x86/include", "./include", "/s"], "-I before -isystem, as clang searches");
        assert_eq!(p.quote_dirs, ["q"]);
        assert_eq!(p.forced, ["./include/linux/kconfig.h"]);
    }

    #[test]
    fn the_search_stops_at_the_first_file_in_clangs_order() {
        let t = tempfile::tempdir().unwrap();
        let at = |p: &str| t.path().join(p).display().to_string();
        for d in ["a/x.h", "b", "q", "src"] {
            std::fs::create_dir_all(at(d)).unwrap();
        }
        for f in ["b/x.h", "q/y.h", "b/y.h"] {
            std::fs::write(at(f), "").unwrap();
        }
        let args = v(&["-nostdinc", "-idirafter", &at("b"), "-I", &at("a"), "-iquote", &at("q")]);
        let p = SearchPath::of(&args).unwrap();
        let mut names = Names::default();
        let include = |name: &str, quoted, next| Include { name: name.into(), quoted, next };
        names.add(&at("src/m.c"), &include("x.h", false, false));
        names.add(&at("src/m.c"), &include("y.h", true, false));
        let found = p.probe(&names);
        let want = [(at("a/x.h"), Found::Dir), (at("b/x.h"), Found::File), (at("q/y.h"), Found::File)];
        assert_eq!(found, want.into(), "a directory is passed over; b/y.h comes after q/y.h");
        names.add(&at("src/m.c"), &include("y.h", false, true));
        assert_eq!(p.probe(&names).get(&at("b/y.h")), Some(&Found::File), "#include_next tries every place");
    }

    #[test]
    fn an_unknown_search_path_is_refused() {
        assert!(SearchPath::of(&v(&["-I.", "-c", "a.c"])).is_err(), "no -nostdinc");
        for bad in [
            "-iprefix/x",
            "-isystem-after",
            "-include-pch",
            "-Xclang",
            "-Wp,-I/x",
            "-I-",
            "-F/fw",
            "--include-directory=/x",
            "-ivfsoverlay",
        ] {
            assert!(SearchPath::of(&v(&["-nostdinc", bad, "-c", "a.c"])).is_err(), "{bad}");
        }
    }
}
