//! C comments taken out of source text (strings and character constants
//! kept whole), so that a search for a directive sees only code.

/// `text` without its `/* … */` and `// …` comments; each comment becomes
/// one space. Plain text is copied in runs between the bytes that may
/// start a comment or a literal (the launcher reads megabytes of headers).
pub fn strip(text: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        let next = memchr::memchr3(b'/', b'"', b'\'', &text[i..]).map_or(text.len(), |n| i + n);
        out.extend_from_slice(&text[i..next]);
        i = next;
        if i == text.len() {
            break;
        }
        match (text[i], text.get(i + 1)) {
            (b'/', Some(b'*')) => {
                i = memchr::memmem::find(&text[i + 2..], b"*/").map_or(text.len(), |e| i + 2 + e + 2);
                out.push(b' ');
            }
            (b'/', Some(b'/')) => {
                i = memchr::memchr(b'\n', &text[i..]).map_or(text.len(), |e| i + e);
                out.push(b' ');
            }
            (q @ (b'"' | b'\''), _) => {
                let end = literal_end(text, i + 1, q);
                out.extend_from_slice(&text[i..end]);
                i = end;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    out
}

/// Just past the closing quote of a literal opened before `from` (or the
/// line's end: an apostrophe in assembler text is not a literal).
fn literal_end(text: &[u8], mut from: usize, quote: u8) -> usize {
    while from < text.len() {
        match text[from] {
            b'\\' => from += 2,
            b'\n' => return from,
            c if c == quote => return from + 1,
            _ => from += 1,
        }
    }
    text.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(t: &str) -> String {
        String::from_utf8(strip(t.as_bytes())).unwrap()
    }

    #[test]
    fn comments_go_and_literals_stay() {
        assert_eq!(s("a /* .include <x> */ b // .incbin\nc"), "a   b  \nc");
        assert_eq!(s(r#"asm(".incbin \"/* x */\"");"#), r#"asm(".incbin \"/* x */\"");"#);
        assert_eq!(s("'\"' /* q */ x"), "'\"'   x");
        assert_eq!(s("don't /* c */ x\n/* d */"), "don't /* c */ x\n ", "an apostrophe's literal ends at the line");
        assert_eq!(s("/* open"), " ");
    }
}
