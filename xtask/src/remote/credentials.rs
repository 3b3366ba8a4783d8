//! A credential helper, as Bazel's `--credential_helper`: a program run as
//! `<helper> get` with `{"uri": "<engine URL>"}` on its standard input,
//! which prints `{"headers": {"Name": ["value", …]}, "expires": "<RFC 3339>"}`.
//! Its answer is kept, in a file only its user can read, until it expires
//! (30 minutes when it names no expiry), so that the launchers of a build
//! do not run it for every compile; an expired answer is asked for again.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::exec::Cmd;
use crate::files::{self, Durability};
use crate::home;

/// How long an answer without an expiry is kept (Bazel's default cache duration).
const KEPT: Duration = Duration::from_secs(30 * 60);

#[derive(Deserialize)]
struct Answer {
    #[serde(default)]
    headers: BTreeMap<String, Vec<String>>,
    expires: Option<String>,
}

/// An answer kept until it expires (seconds since the epoch).
#[derive(Serialize, Deserialize)]
struct Kept {
    headers: Vec<(String, String)>,
    until: u64,
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// Where one helper's answer for one engine is kept, in `dir`.
fn kept_file(dir: &Path, helper: &Path, url: &str) -> PathBuf {
    let key = hex::encode(Sha256::digest(format!("{}\0{url}", helper.display())));
    dir.join(format!("{}.json", &key[..32]))
}

/// The headers the helper gives for `url`: kept ones while they last, else asked anew.
pub fn headers(helper: &Path, url: &str) -> Result<Vec<(String, String)>> {
    headers_kept_in(&home::cache().join("credentials"), helper, url)
}

fn headers_kept_in(dir: &Path, helper: &Path, url: &str) -> Result<Vec<(String, String)>> {
    let file = kept_file(dir, helper, url);
    let kept = std::fs::read(&file).ok().and_then(|b| serde_json::from_slice::<Kept>(&b).ok());
    if let Some(k) = kept.filter(|k| k.until > now() + 30) {
        return Ok(k.headers);
    }
    let (headers, until) = ask(helper, url)?;
    std::fs::create_dir_all(dir)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    let text = serde_json::to_vec(&Kept { headers: headers.clone(), until })?;
    files::write_atomically(&file, &text, Durability::Whole)?;
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600))?;
    Ok(headers)
}

/// Runs the helper once: its headers, and until when they hold.
fn ask(helper: &Path, url: &str) -> Result<(Vec<(String, String)>, u64)> {
    let request = serde_json::to_vec(&serde_json::json!({ "uri": url }))?;
    let out = Cmd::new(helper)
        .arg("get")
        .input(request)
        .read()
        .with_context(|| format!("the credential helper {} failed for {url}", helper.display()))?;
    let answer: Answer = serde_json::from_str(&out).with_context(|| {
        format!("the credential helper {} printed no {{\"headers\": …}} object for {url}", helper.display())
    })?;
    let until = match &answer.expires {
        Some(t) => humantime::parse_rfc3339_weak(t)
            .with_context(|| format!("the credential helper's expiry `{t}` is not an RFC 3339 time"))?
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
        None => now() + KEPT.as_secs(),
    };
    let headers: Vec<(String, String)> = answer
        .headers
        .into_iter()
        .flat_map(|(k, vs)| vs.into_iter().map(move |v| (k.to_ascii_lowercase(), v)))
        .collect();
    if headers.is_empty() {
        bail!("the credential helper {} gave no header for {url}", helper.display());
    }
    Ok((headers, until))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A helper (a real program) that counts its runs and answers with a token
    /// valid for `valid` seconds: a kept answer is used until it expires.
    #[test]
    fn the_helpers_answer_is_kept_until_it_expires() {
        let dir = tempfile::tempdir().unwrap();
        let kept_in = dir.path().join("credentials");
        let headers = |helper: &Path, url: &str| headers_kept_in(&kept_in, helper, url);
        let helper = dir.path().join("helper");
        let runs = dir.path().join("runs");
        let script = format!(
            "#!/bin/sh\n[ \"$1\" = get ] || exit 2\nread -r request\necho \"$request\" >> {runs}\nn=$(wc -l < {runs})\nexp=$(date -u -d \"@$(( $(date +%s) + $(cat {valid}) ))\" +%Y-%m-%dT%H:%M:%SZ)\nprintf '{{\"headers\": {{\"X-Api-Key\": [\"key-%s\"]}}, \"expires\": \"%s\"}}\\n' \"$n\" \"$exp\"\n",
            runs = runs.display(),
            valid = dir.path().join("valid").display()
        );
        std::fs::write(&helper, script).unwrap();
        std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::write(dir.path().join("valid"), "3600").unwrap();
        let url = "grpcs://engine.example:443";
        assert_eq!(headers(&helper, url).unwrap(), [("x-api-key".to_string(), "key-1".to_string())]);
        assert_eq!(headers(&helper, url).unwrap()[0].1, "key-1", "kept, not asked again");
        assert!(std::fs::read_to_string(&runs).unwrap().contains("\"uri\":\"grpcs://engine.example:443\""));
        let kept = kept_file(&kept_in, &helper, url);
        assert_eq!(std::fs::metadata(&kept).unwrap().permissions().mode() & 0o777, 0o600, "only its user reads it");
        // An answer about to expire is asked for again.
        std::fs::write(dir.path().join("valid"), "5").unwrap();
        std::fs::remove_file(&kept).unwrap();
        assert_eq!(headers(&helper, url).unwrap()[0].1, "key-2");
        assert_eq!(headers(&helper, url).unwrap()[0].1, "key-3", "expiring within 30 s: refreshed");
        let broken = dir.path().join("broken");
        std::fs::write(&broken, "#!/bin/sh\necho not json\n").unwrap();
        std::fs::set_permissions(&broken, std::fs::Permissions::from_mode(0o755)).unwrap();
        let err = format!("{:#}", ask(&broken, url).unwrap_err());
        assert!(err.contains("printed no {\"headers\""), "{err}");
    }
}
