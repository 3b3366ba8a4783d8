//! Reading `.config` and config fragments, and explaining why Kconfig
//! dropped an option: find its `config` block, evaluate each `depends on`
//! against the resolved `.config`, and name what failed.

use std::collections::BTreeMap;
use std::path::Path;

/// Symbol (without `CONFIG_`) to value (`y`, `m`, `n`, a number or a string).
#[derive(Debug, Default, Clone)]
pub struct Values(BTreeMap<String, String>);

impl Values {
    /// Parses `.config` or fragment text: `CONFIG_X=v` and `# CONFIG_X is not set`.
    pub fn parse(text: &str) -> Self {
        let mut map = BTreeMap::new();
        for line in text.lines().map(str::trim) {
            if let Some(sym) = line.strip_prefix("# CONFIG_").and_then(|l| l.strip_suffix(" is not set")) {
                map.insert(sym.to_string(), "n".to_string());
            } else if let Some((sym, value)) = line.strip_prefix("CONFIG_").and_then(|l| l.split_once('=')) {
                map.insert(sym.to_string(), value.to_string());
            }
        }
        Self(map)
    }

    /// A symbol's value; unset symbols are `n`, as Kconfig treats them.
    pub fn get(&self, sym: &str) -> &str {
        self.0.get(sym).map(String::as_str).unwrap_or("n")
    }

    pub fn iter(&self) -> impl Iterator<Item = (&String, &String)> {
        self.0.iter()
    }

    /// Adds `other`'s symbols, its value winning where both set one.
    pub fn extend(&mut self, other: &Values) {
        self.0.extend(other.0.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
}

/// Options asked for that `.config` does not have as asked.
pub fn dropped(wanted: &Values, got: &Values) -> Vec<(String, String, String)> {
    wanted
        .iter()
        .filter(|(sym, val)| got.get(sym) != val.as_str())
        .map(|(sym, val)| (sym.clone(), val.clone(), got.get(sym).to_string()))
        .collect()
}

/// Tristate evaluation of a Kconfig expression: 0 (n), 1 (m), 2 (y);
/// None when it uses something this reader does not evaluate (`$(...)`).
pub fn eval(expr: &str, values: &Values) -> Option<u8> {
    let tokens = tokenize(expr)?;
    let mut p = Parser { tokens, pos: 0, values };
    let v = p.or()?;
    (p.pos == p.tokens.len()).then_some(v)
}

fn tokenize(expr: &str) -> Option<Vec<String>> {
    let mut out = Vec::new();
    let mut chars = expr.chars().peekable();
    while let Some(&c) = chars.peek() {
        match c {
            ' ' | '\t' => {
                chars.next();
            }
            '(' | ')' => {
                out.push(c.to_string());
                chars.next();
            }
            '&' | '|' | '=' | '!' | '<' | '>' => {
                chars.next();
                let mut op = c.to_string();
                if let Some(&n) = chars.peek() {
                    if (c == '&' && n == '&') || (c == '|' && n == '|') || (n == '=' && c != '=') {
                        op.push(n);
                        chars.next();
                    }
                }
                out.push(op);
            }
            '"' => {
                chars.next();
                let s: String = chars.by_ref().take_while(|&ch| ch != '"').collect();
                out.push(format!("\"{s}\""));
            }
            '$' => return None,
            _ => {
                let mut word = String::new();
                while let Some(&ch) = chars.peek() {
                    if ch.is_alphanumeric() || ch == '_' || ch == '-' || ch == '.' {
                        word.push(ch);
                        chars.next();
                    } else {
                        break;
                    }
                }
                if word.is_empty() {
                    return None;
                }
                out.push(word);
            }
        }
    }
    Some(out)
}

struct Parser<'a> {
    tokens: Vec<String>,
    pos: usize,
    values: &'a Values,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&str> {
        self.tokens.get(self.pos).map(String::as_str)
    }

    fn or(&mut self) -> Option<u8> {
        let mut v = self.and()?;
        while self.peek() == Some("||") {
            self.pos += 1;
            v = v.max(self.and()?);
        }
        Some(v)
    }

    fn and(&mut self) -> Option<u8> {
        let mut v = self.not()?;
        while self.peek() == Some("&&") {
            self.pos += 1;
            v = v.min(self.not()?);
        }
        Some(v)
    }

    fn not(&mut self) -> Option<u8> {
        if self.peek() == Some("!") {
            self.pos += 1;
            return Some(2 - self.not()?);
        }
        self.compare()
    }

    fn compare(&mut self) -> Option<u8> {
        if self.peek() == Some("(") {
            self.pos += 1;
            let v = self.or()?;
            (self.peek() == Some(")")).then(|| self.pos += 1)?;
            return Some(v);
        }
        let left = self.atom()?;
        match self.peek() {
            Some("=") | Some("!=") => {
                let negate = self.peek() == Some("!=");
                self.pos += 1;
                let right = self.atom()?;
                Some(if (left == right) != negate { 2 } else { 0 })
            }
            _ => Some(match left.as_str() {
                "y" => 2,
                "m" => 1,
                _ => 0,
            }),
        }
    }

    /// A symbol's value, or a constant.
    fn atom(&mut self) -> Option<String> {
        let tok = self.tokens.get(self.pos)?.clone();
        self.pos += 1;
        Some(match tok.as_str() {
            "y" | "m" | "n" => tok,
            t if t.starts_with('"') => t.trim_matches('"').to_string(),
            t if t.chars().all(|c| c.is_ascii_digit()) => tok,
            t => self.values.get(t).trim_matches('"').to_string(),
        })
    }
}

/// The `depends on` expressions of `config SYM` blocks anywhere in the
/// tree's Kconfig files (a symbol may be declared in several places).
/// Whether any Kconfig file of the tree defines `sym` (`config SYM` or `menuconfig SYM`).
pub fn is_defined(tree: &Path, sym: &str) -> bool {
    kconfig_files(tree).iter().any(|f| {
        std::fs::read_to_string(f).is_ok_and(|text| {
            text.lines().any(|l| {
                let t = l.trim();
                t.strip_prefix("config ").or_else(|| t.strip_prefix("menuconfig ")).is_some_and(|n| n.trim() == sym)
            })
        })
    })
}

pub fn depends_of(tree: &Path, sym: &str) -> Vec<String> {
    let mut found = Vec::new();
    for file in kconfig_files(tree) {
        let Ok(text) = std::fs::read_to_string(&file) else { continue };
        let mut inside = false;
        for line in text.lines() {
            let t = line.trim();
            if let Some(name) = t.strip_prefix("config ").or_else(|| t.strip_prefix("menuconfig ")) {
                inside = name.trim() == sym;
            } else if inside
                && (t.starts_with("choice")
                    || t.starts_with("endchoice")
                    || t.starts_with("menu")
                    || t.starts_with("if ")
                    || t.starts_with("source"))
            {
                inside = false;
            } else if inside {
                if let Some(dep) = t.strip_prefix("depends on ") {
                    found.push(dep.trim().to_string());
                }
            }
        }
    }
    found
}

fn kconfig_files(tree: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![tree.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&dir) else { continue };
        for e in rd.filter_map(|e| e.ok()) {
            let p = e.path();
            let name = e.file_name();
            let name = name.to_string_lossy();
            if name.starts_with('.') {
                continue;
            }
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                stack.push(p);
            } else if name.starts_with("Kconfig") {
                out.push(p);
            }
        }
    }
    out
}

/// Why `sym` is not set as wanted: each failing `depends on`, the values of
/// its symbols, and one level further for the symbols that made it fail.
pub fn explain(tree: &Path, sym: &str, values: &Values) -> Vec<String> {
    if !is_defined(tree, sym) {
        return vec![format!(
            "CONFIG_{sym} does not exist in this tree's Kconfig: misspelt, or an option of another kernel version"
        )];
    }
    let mut lines = Vec::new();
    explain_into(tree, sym, values, 0, &mut lines);
    if lines.is_empty() {
        lines.push(format!(
            "{sym}: every `depends on` is met; something selects the opposite, a choice picked another option, or the value is out of range"
        ));
    }
    lines
}

fn explain_into(tree: &Path, sym: &str, values: &Values, depth: usize, lines: &mut Vec<String>) {
    for dep in depends_of(tree, sym) {
        let Some(0) = eval(&dep, values) else { continue };
        let symbols: Vec<String> = tokenize(&dep)
            .unwrap_or_default()
            .into_iter()
            .filter(|t| t.chars().next().is_some_and(|c| c.is_ascii_uppercase()))
            .collect();
        let shown: Vec<String> = symbols.iter().map(|s| format!("{s}={}", values.get(s))).collect();
        lines.push(format!("{}{sym} depends on `{dep}`, which is n here ({})", "  ".repeat(depth), shown.join(", ")));
        if depth == 0 {
            for s in symbols.iter().filter(|s| values.get(s) == "n") {
                explain_into(tree, s, values, depth + 1, lines);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vals(text: &str) -> Values {
        Values::parse(text)
    }

    #[test]
    fn parses_config_and_fragments() {
        let v = vals("CONFIG_A=y\n# CONFIG_B is not set\nCONFIG_S=\"x y\"\nCONFIG_N=16\n# comment\n");
        assert_eq!((v.get("A"), v.get("B"), v.get("S"), v.get("N"), v.get("Z")), ("y", "n", "\"x y\"", "16", "n"));
        let wanted = vals("CONFIG_A=y\nCONFIG_B=y\n# CONFIG_C is not set\n");
        assert_eq!(dropped(&wanted, &v), [("B".to_string(), "y".to_string(), "n".to_string())]);
    }

    #[test]
    fn evaluates_tristate_expressions() {
        let v = vals("CONFIG_CC_IS_CLANG=y\nCONFIG_LD_IS_LLD=y\nCONFIG_KASAN=y\nCONFIG_M=m\nCONFIG_STR=\"ab\"\n");
        assert_eq!(eval("CC_IS_CLANG && LD_IS_LLD", &v), Some(2));
        assert_eq!(eval("!KASAN || KASAN_HW_TAGS", &v), Some(0));
        assert_eq!(eval("M", &v), Some(1));
        assert_eq!(eval("M && CC_IS_CLANG", &v), Some(1));
        assert_eq!(eval("(MISSING || CC_IS_CLANG) && !GCOV", &v), Some(2));
        assert_eq!(eval("STR = \"ab\"", &v), Some(2));
        assert_eq!(eval("STR != \"ab\"", &v), Some(0));
        assert_eq!(eval("$(success,true)", &v), None);
        assert_eq!(eval("A &&", &v), None);
    }

    #[test]
    fn explains_failed_dependencies_from_kconfig() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("arch")).unwrap();
        std::fs::write(
            dir.path().join("arch/Kconfig"),
            "config HAS_LTO_CLANG\n\tdef_bool y\n\tdepends on CC_IS_CLANG && LD_IS_LLD\n\tdepends on !GCOV_KERNEL\n\nchoice\n\tprompt \"LTO\"\n\nconfig LTO_CLANG_THIN_DIST\n\tbool \"dist\"\n\tdepends on HAS_LTO_CLANG && ARCH_SUPPORTS_LTO_CLANG_THIN\n\nendchoice\n",
        )
        .unwrap();
        let v = vals(
            "CONFIG_CC_IS_CLANG=y\nCONFIG_LD_IS_LLD=y\nCONFIG_GCOV_KERNEL=y\nCONFIG_ARCH_SUPPORTS_LTO_CLANG_THIN=y\n",
        );
        let why = explain(dir.path(), "LTO_CLANG_THIN_DIST", &v).join("\n");
        assert!(
            why.contains("LTO_CLANG_THIN_DIST depends on `HAS_LTO_CLANG && ARCH_SUPPORTS_LTO_CLANG_THIN`"),
            "{why}"
        );
        assert!(why.contains("HAS_LTO_CLANG depends on `!GCOV_KERNEL`, which is n here (GCOV_KERNEL=y)"), "{why}");
        assert!(!why.contains("CC_IS_CLANG && LD_IS_LLD"), "met dependencies are not blamed: {why}");
    }
}
