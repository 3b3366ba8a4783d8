//! Where the engine is and how to reach it: a REAPI v2 endpoint, its
//! instance, TLS files, a bearer token (read from a file or the
//! THINDIST_REMOTE_TOKEN variable, never from a flag value) and the headers
//! hosted engines authenticate with.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use crate::tree::state::State;

/// The environment variable a bearer token may come from.
pub const TOKEN_ENV: &str = "THINDIST_REMOTE_TOKEN";

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Endpoint {
    /// `grpc://host:port` (plain) or `grpcs://host:port` (TLS).
    pub url: String,
    #[serde(default)]
    pub instance: String,
    /// PEM CA certificate to trust (TLS); the system roots are trusted too.
    pub ca: Option<PathBuf>,
    /// PEM client certificate and key, for engines that want mutual TLS.
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
    /// A file holding a bearer token.
    pub token_file: Option<PathBuf>,
    /// Headers every call carries (`--remote-header`).
    #[serde(default)]
    pub headers: Vec<Header>,
    /// A program whose answer gives more headers (Bazel's credential helper protocol).
    #[serde(default)]
    pub credential_helper: Option<PathBuf>,
}

/// A header every call to the engine carries: hosted engines authenticate
/// with their own (`x-buildbuddy-api-key`; EngFlow's `x-engflow-auth-method`
/// and `x-engflow-auth-token`). Written `NAME=VALUE`, `NAME=@FILE` (the
/// file's content) or `NAME=$VAR` (an environment variable's), read when a
/// call is made; a value is never shown (Debug prints its source only).
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Header {
    pub name: String,
    value: HeaderValue,
}

#[derive(Clone, PartialEq)]
enum HeaderValue {
    Given(String),
    File(PathBuf),
    Env(String),
}

impl TryFrom<String> for Header {
    type Error = String;

    fn try_from(s: String) -> Result<Self, String> {
        let Some((name, value)) = s.split_once('=') else {
            return Err("a header is NAME=VALUE, NAME=@FILE or NAME=$VAR".into());
        };
        let name = name.trim().to_ascii_lowercase();
        let valid = !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
        if !valid || name.ends_with("-bin") {
            return Err(format!(
                "`{name}` is not a header name thindist sends (letters, digits, - _ .; not a -bin key)"
            ));
        }
        let value = match (value.strip_prefix('@'), value.strip_prefix('$')) {
            (Some(file), _) => HeaderValue::File(PathBuf::from(file)),
            (_, Some(var)) => HeaderValue::Env(var.to_string()),
            _ => HeaderValue::Given(value.to_string()),
        };
        Ok(Header { name, value })
    }
}

impl From<Header> for String {
    fn from(h: Header) -> String {
        match h.value {
            HeaderValue::Given(v) => format!("{}={v}", h.name),
            HeaderValue::File(f) => format!("{}=@{}", h.name, f.display()),
            HeaderValue::Env(v) => format!("{}=${v}", h.name),
        }
    }
}

impl std::fmt::Debug for Header {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let source = match &self.value {
            HeaderValue::Given(_) => "given".to_string(),
            HeaderValue::File(p) => format!("from {}", p.display()),
            HeaderValue::Env(v) => format!("from ${v}"),
        };
        write!(f, "{}: <{source}>", self.name)
    }
}

impl Header {
    /// The value now: given, or read from its file or variable.
    pub fn value(&self) -> Result<String> {
        let v = match &self.value {
            HeaderValue::Given(v) => v.clone(),
            HeaderValue::File(p) => std::fs::read_to_string(p)
                .with_context(|| format!("cannot read the value of header {} from {}", self.name, p.display()))?,
            HeaderValue::Env(var) => {
                std::env::var(var).with_context(|| format!("header {}: the variable {var} is not set", self.name))?
            }
        };
        Ok(v.trim().to_string())
    }
}

impl Endpoint {
    /// The state file's `[remote]` table: an engine every build uses unless told otherwise.
    pub fn from_state(state: &State) -> Result<Option<Self>> {
        state.section("remote").with_context(|| {
            format!(
                "[remote] in {} is not valid: keys are url, instance, ca, cert, key, token_file, headers, credential_helper",
                state.path().display()
            )
        })
    }

    /// The URL tonic dials, and whether it is TLS.
    pub fn dial(&self) -> Result<(String, bool)> {
        let (scheme, rest) = self.url.split_once("://").with_context(|| {
            format!("remote `{}` is not a URL; give grpc://HOST:PORT or grpcs://HOST:PORT", self.url)
        })?;
        let tls = match scheme {
            "grpc" | "http" => false,
            "grpcs" | "https" => true,
            _ => bail!("remote `{}`: scheme `{scheme}` is not grpc:// or grpcs://", self.url),
        };
        if rest.is_empty() || rest.contains('/') || !rest.contains(':') {
            bail!("remote `{}` needs HOST:PORT after the scheme, e.g. grpc://127.0.0.1:50051", self.url);
        }
        if !tls && (self.ca.is_some() || self.cert.is_some()) {
            bail!("remote `{}`: TLS files were given for a plain grpc:// URL; use grpcs://", self.url);
        }
        if self.cert.is_some() != self.key.is_some() {
            bail!("--remote-cert and --remote-key go together");
        }
        let token = self.token_file.is_some() || std::env::var(TOKEN_ENV).is_ok_and(|t| !t.trim().is_empty());
        let credentials = token || !self.headers.is_empty() || self.credential_helper.is_some();
        if !tls && credentials && !is_loopback(rest) {
            bail!(
                "remote `{}`: a token or header would cross the network in clear text over grpc://; use grpcs:// (TLS), or a loopback address",
                self.url
            );
        }
        Ok((format!("{}://{rest}", if tls { "https" } else { "http" }), tls))
    }

    /// The bearer token, if one is configured: the file first, then the variable.
    pub fn token(&self) -> Result<Option<String>> {
        if let Some(f) = &self.token_file {
            let t = std::fs::read_to_string(f).with_context(|| format!("cannot read token file {}", f.display()))?;
            let t = t.trim().to_string();
            if t.is_empty() {
                bail!("token file {} is empty", f.display());
            }
            return Ok(Some(t));
        }
        Ok(std::env::var(TOKEN_ENV).ok().filter(|t| !t.trim().is_empty()).map(|t| t.trim().to_string()))
    }
}

/// Whether `host:port` names this machine: `localhost`, 127.0.0.0/8 or `[::1]`.
fn is_loopback(host_port: &str) -> bool {
    let host = host_port.rsplit_once(':').map_or(host_port, |(h, _)| h);
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host == "localhost" || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ep(url: &str) -> Endpoint {
        Endpoint { url: url.into(), ..Default::default() }
    }

    #[test]
    fn urls_are_checked() {
        assert_eq!(ep("grpc://127.0.0.1:50051").dial().unwrap(), ("http://127.0.0.1:50051".into(), false));
        assert!(ep("grpcs://re.example:443").dial().unwrap().1);
        assert!(ep("127.0.0.1:50051").dial().unwrap_err().to_string().contains("grpc://HOST:PORT"));
        assert!(ep("ftp://x:1").dial().is_err());
        assert!(ep("grpc://host").dial().is_err());
        let mut e = ep("grpc://h:1");
        e.ca = Some("/ca.pem".into());
        assert!(e.dial().unwrap_err().to_string().contains("grpcs://"));
    }

    #[test]
    fn a_token_goes_in_clear_text_only_to_this_machine() {
        let with_token = |url: &str| Endpoint { url: url.into(), token_file: Some("/t".into()), ..Default::default() };
        for url in ["grpc://127.0.0.1:50051", "grpc://localhost:1", "grpc://[::1]:8980", "grpc://127.3.0.9:1"] {
            assert!(with_token(url).dial().is_ok(), "{url}");
        }
        for url in ["grpc://192.0.2.7:50051", "grpc://buildgrid.example:50051", "grpc://[2001:db8::1]:1"] {
            let err = with_token(url).dial().unwrap_err().to_string();
            assert!(err.contains("clear text") && err.contains("grpcs://"), "{url}: {err}");
        }
        assert!(with_token("grpcs://buildgrid.example:443").dial().is_ok());
        assert!(ep("grpc://192.0.2.7:50051").dial().is_ok(), "no token, no objection");
        let mut with_header = ep("grpc://192.0.2.7:50051");
        with_header.headers.push(Header::try_from("x-buildbuddy-api-key=$BB_KEY".to_string()).unwrap());
        assert!(with_header.dial().unwrap_err().to_string().contains("clear text"));
    }

    #[test]
    fn headers_are_read_when_used_and_never_shown() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("key");
        std::fs::write(&key, "s3cret-from-file\n").unwrap();
        let h = |s: &str| Header::try_from(s.to_string());
        let given = h("X-EngFlow-Auth-Method=jwt-v0").unwrap();
        assert_eq!((given.name.as_str(), given.value().unwrap().as_str()), ("x-engflow-auth-method", "jwt-v0"));
        let file = h(&format!("x-buildbuddy-api-key=@{}", key.display())).unwrap();
        assert_eq!(file.value().unwrap(), "s3cret-from-file");
        std::env::set_var("THINDIST_TEST_HEADER_VALUE", "s3cret-from-env");
        assert_eq!(h("x-engflow-auth-token=$THINDIST_TEST_HEADER_VALUE").unwrap().value().unwrap(), "s3cret-from-env");
        assert!(h("x-token=$THINDIST_TEST_NO_SUCH_VARIABLE").unwrap().value().is_err());
        let shown =
            format!("{:?}", Endpoint { url: "grpcs://h:1".into(), headers: vec![given, file], ..Default::default() });
        assert!(!shown.contains("jwt-v0") && !shown.contains("s3cret"), "{shown}");
        assert!(h("novalue").is_err() && h("=x").is_err() && h("x-data-bin=1").is_err());
        let written: String = h("x-a=@/k").unwrap().into();
        assert_eq!(written, "x-a=@/k", "kept as its source, never as the file's value");
    }

    #[test]
    fn the_state_files_remote_table_names_an_engine() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.toml");
        assert!(Endpoint::from_state(&State::load(&path).unwrap()).unwrap().is_none());
        std::fs::write(&path, "[remote]\nurl = \"grpcs://re.example:443\"\ninstance = \"main\"\ntoken_file = \"/t\"\n")
            .unwrap();
        let ep = Endpoint::from_state(&State::load(&path).unwrap()).unwrap().unwrap();
        assert_eq!((ep.url.as_str(), ep.instance.as_str()), ("grpcs://re.example:443", "main"));
        assert_eq!(ep.token_file.as_deref(), Some(std::path::Path::new("/t")));
        std::fs::write(&path, "[remote]\nurl = 5\n").unwrap();
        let err = Endpoint::from_state(&State::load(&path).unwrap()).unwrap_err().to_string();
        assert!(err.contains("keys are url"), "{err}");
    }
}
