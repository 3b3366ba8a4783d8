//! Reads a `git format-patch` file: author, date, subject, message and diff.
//! git2 applies diffs but does not parse mail headers, so this does only that.

use anyhow::{bail, Context, Result};

#[derive(Debug, Clone)]
pub struct MailPatch {
    pub author_name: String,
    pub author_email: String,
    /// Seconds since the epoch and offset in minutes, from the Date header.
    pub time: (i64, i32),
    /// Subject without the `[PATCH ...]` prefix, followed by the body.
    pub message: String,
    /// Everything from the first `diff --git` line on.
    pub diff: Vec<u8>,
}

impl MailPatch {
    pub fn parse(text: &str) -> Result<Self> {
        let (headers, rest) = text
            .split_once("\n\n")
            .context("no blank line after the mail headers; is this a `git format-patch` file?")?;
        let header = |name: &str| -> Option<String> {
            let prefix = format!("{name}: ");
            let mut lines = headers.lines().peekable();
            while let Some(line) = lines.next() {
                if let Some(value) = line.strip_prefix(&prefix) {
                    let mut value = value.to_string();
                    // RFC 5322 folding: continuation lines start with white space.
                    while let Some(next) = lines.peek().filter(|l| l.starts_with([' ', '\t'])) {
                        value.push(' ');
                        value.push_str(next.trim());
                        lines.next();
                    }
                    return Some(value);
                }
            }
            None
        };
        let from = header("From").context("no From: header")?;
        let (author_name, author_email) = parse_address(&from)?;
        let date = header("Date").context("no Date: header")?;
        let time = parse_date(&date).with_context(|| format!("cannot read Date: {date}"))?;
        let subject = strip_patch_prefix(&header("Subject").context("no Subject: header")?);

        let diff_start = rest
            .find("\ndiff --git ")
            .map(|i| i + 1)
            .or_else(|| rest.starts_with("diff --git ").then_some(0))
            .context("no `diff --git` section")?;
        let body_and_notes = &rest[..diff_start];
        // The message ends at the `---` line; what follows (notes, diffstat) is not committed.
        let body = match body_and_notes.find("\n---\n") {
            Some(i) => &body_and_notes[..i + 1],
            None if body_and_notes.starts_with("---\n") => "",
            None => body_and_notes,
        };
        let mut message = subject;
        let body = body.trim();
        if !body.is_empty() {
            message.push_str("\n\n");
            message.push_str(body);
        }
        message.push('\n');
        let diff = rest[diff_start..].trim_end_matches("\n-- \n").to_string();
        // Drop the `-- ` signature (git version) that format-patch appends.
        let diff = match diff.rfind("\n-- \n") {
            Some(i) => diff[..i + 1].to_string(),
            None => diff,
        };
        Ok(Self { author_name, author_email, time, message, diff: diff.into_bytes() })
    }

    pub fn subject(&self) -> &str {
        self.message.lines().next().unwrap_or_default()
    }
}

fn strip_patch_prefix(subject: &str) -> String {
    let s = subject.trim();
    match s.strip_prefix('[').and_then(|r| r.split_once(']')) {
        Some((tag, rest)) if tag.to_ascii_uppercase().contains("PATCH") => rest.trim().to_string(),
        _ => s.to_string(),
    }
}

fn parse_address(from: &str) -> Result<(String, String)> {
    match (from.find('<'), from.rfind('>')) {
        (Some(l), Some(r)) if l < r => Ok((from[..l].trim().trim_matches('"').to_string(), from[l + 1..r].to_string())),
        _ => bail!("From: `{from}` has no <address>"),
    }
}

/// RFC 2822 date, e.g. `Wed, 21 May 2025 21:35:00 +0000`.
fn parse_date(date: &str) -> Result<(i64, i32)> {
    let date = date.split_once(", ").map(|(_, d)| d).unwrap_or(date);
    let parts: Vec<&str> = date.split_whitespace().collect();
    let [day, month, year, clock, zone] = parts[..] else { bail!("expected `day month year hh:mm:ss zone`") };
    let month = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        .iter()
        .position(|m| *m == month)
        .context("unknown month")? as i64
        + 1;
    let (day, year): (i64, i64) = (day.parse()?, year.parse()?);
    let hms: Vec<i64> = clock.split(':').map(str::parse).collect::<Result<_, _>>()?;
    let [h, m, s] = hms[..] else { bail!("bad time of day") };
    let sign = if zone.starts_with('-') { -1 } else { 1 };
    let zone_digits: i32 = zone.trim_start_matches(['+', '-']).parse()?;
    let offset_min = sign * ((zone_digits / 100) * 60 + zone_digits % 100);
    let local = days_from_civil(year, month, day) * 86400 + h * 3600 + m * 60 + s;
    Ok((local - offset_min as i64 * 60, offset_min))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "From 1234 Mon Sep 17 00:00:00 2001\nFrom: A U Thor <author@example.org>\nDate: Thu, 22 May 2025 06:35:00 +0900\nSubject: [PATCH v3 1/2] kbuild: do a\n thing\n\nWhy it is done.\n\nSigned-off-by: A U Thor <author@example.org>\n---\nChangelog: notes\n---\n Makefile | 1 +\n\ndiff --git a/Makefile b/Makefile\nindex 1..2 100644\n--- a/Makefile\n+++ b/Makefile\n@@ -1 +1,2 @@\n a\n+b\n-- \n2.49.0\n\n";

    #[test]
    fn reads_headers_message_and_diff() {
        let p = MailPatch::parse(SAMPLE).unwrap();
        assert_eq!(p.author_name, "A U Thor");
        assert_eq!(p.author_email, "author@example.org");
        assert_eq!(p.subject(), "kbuild: do a thing");
        assert!(p.message.contains("Why it is done.") && p.message.contains("Signed-off-by"));
        assert!(!p.message.contains("Changelog"), "{}", p.message);
        let diff = String::from_utf8(p.diff).unwrap();
        assert!(diff.starts_with("diff --git a/Makefile"));
        assert!(diff.ends_with("+b\n"), "{diff:?}");
        // 2025-05-21 21:35:00 UTC
        assert_eq!(p.time, (1747863300, 540));
    }

    #[test]
    fn rejects_mail_without_diff() {
        let text = "From: A <a@b>\nDate: Thu, 1 Jan 1970 00:00:00 +0000\nSubject: x\n\nbody only\n";
        assert!(MailPatch::parse(text).unwrap_err().to_string().contains("diff --git"));
    }

    #[test]
    fn civil_days() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11017);
    }
}
