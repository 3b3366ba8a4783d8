//! Where the engine is and how to reach it: a REAPI v2 endpoint, its
//! instance, TLS files and a bearer token (read from a file or the
//! THINDIST_REMOTE_TOKEN variable, never from a flag value).

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
}

impl Endpoint {
    /// The state file's `[remote]` table: an engine every build uses unless told otherwise.
    pub fn from_state(state: &State) -> Result<Option<Self>> {
        state.section("remote").with_context(|| {
            format!(
                "[remote] in {} is not valid: keys are url, instance, ca, cert, key, token_file",
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
        if !tls && token && !is_loopback(rest) {
            bail!(
                "remote `{}`: a token would cross the network in clear text over grpc://; use grpcs:// (TLS), or a loopback address",
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
