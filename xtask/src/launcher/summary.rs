//! What the launchers of one build recorded, summed for the progress line
//! and the report: where compiles ran, what moved, what the engine cost.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::launcher::record::{JobRecord, Kind, Place, Scan};
use crate::remote::endpoint::Endpoint;
use crate::stats::median;

/// Counts of where compiles ran, per stage, and what moved.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct RemoteSummary {
    pub endpoint: Option<String>,
    /// Back-end jobs by where they ran.
    pub backend: BTreeMap<String, usize>,
    /// Front-end compiles by where they ran.
    pub frontend: BTreeMap<String, usize>,
    /// Wall seconds of the launchers (start to end, summed) by stage and
    /// place: `back-end hit`, `front-end local`, ….
    pub seconds: BTreeMap<String, f64>,
    pub bytes_uploaded: u64,
    pub bytes_downloaded: u64,
    /// The launcher's own time per remote-executed job: all but the wait on Execute.
    pub median_overhead_ms: Option<f64>,
    /// The engine's time per executed job beyond the compile (queue, sandbox, staging).
    pub median_engine_overhead_ms: Option<f64>,
    /// A cache hit, whole: lookup, download, write.
    pub median_hit_ms: Option<f64>,
    /// Back-end jobs that failed (clang's exit code not 0).
    pub failed: usize,
    /// Front-end compiles sent with an earlier dependency scan reused.
    pub scans_reused: usize,
    /// Calls to the engine tried again (a restart, a dropped stream, an overload).
    #[serde(default)]
    pub retries: usize,
}

impl RemoteSummary {
    pub fn of(endpoint: Option<&Endpoint>, records: &[JobRecord]) -> Self {
        let mut s = Self { endpoint: endpoint.map(|e| e.url.clone()), ..Default::default() };
        let (mut overheads, mut engine, mut hits) = (Vec::new(), Vec::new(), Vec::new());
        for r in records {
            let counts = match r.kind {
                Kind::FrontEnd => &mut s.frontend,
                Kind::BackEnd => &mut s.backend,
            };
            *counts.entry(place_name(r.place).to_string()).or_default() += 1;
            *s.seconds.entry(format!("{} {}", kind_name(r.kind), place_name(r.place))).or_default() += r.end - r.start;
            match r.place {
                Place::Remote => {
                    overheads.push(r.overhead() * 1000.0);
                    engine.push((r.engine_seconds - r.compile_seconds).max(0.0) * 1000.0);
                }
                Place::Hit => hits.push((r.end - r.start) * 1000.0),
                _ => {}
            }
            if r.exit_code != 0 {
                s.failed += 1;
            }
            if r.scan == Some(Scan::Reused) {
                s.scans_reused += 1;
            }
            s.retries += r.retries as usize;
            s.bytes_uploaded += r.uploaded;
            s.bytes_downloaded += r.downloaded;
        }
        s.median_overhead_ms = median(&mut overheads);
        s.median_engine_overhead_ms = median(&mut engine);
        s.median_hit_ms = median(&mut hits);
        s
    }

    pub fn count(&self, kind: Kind, place: Place) -> usize {
        let counts = match kind {
            Kind::FrontEnd => &self.frontend,
            Kind::BackEnd => &self.backend,
        };
        counts.get(place_name(place)).copied().unwrap_or(0)
    }

    /// `12 remote, 300 hits, 0 local` for one stage — the progress line and the report.
    pub fn line(&self, kind: Kind) -> String {
        let n = |p| self.count(kind, p);
        let mut parts = vec![
            format!("{} remote", n(Place::Remote)),
            format!("{} hits", n(Place::Hit)),
            format!("{} local", n(Place::Local)),
        ];
        if n(Place::Fallback) > 0 {
            parts.push(format!("{} fell back to local", n(Place::Fallback)));
        }
        if kind == Kind::FrontEnd && self.scans_reused > 0 {
            parts.push(format!("{} scans reused", self.scans_reused));
        }
        parts.join(", ")
    }

    /// `12 remote, 300 hits, 0 local; 41.2 s` — a stage's jobs and the launchers' time on them.
    pub fn line_with_seconds(&self, kind: Kind) -> String {
        let prefix = format!("{} ", kind_name(kind));
        let seconds: f64 = self.seconds.iter().filter(|(k, _)| k.starts_with(&prefix)).map(|(_, s)| s).sum();
        format!("{}; {seconds:.1} s", self.line(kind))
    }
}

pub fn kind_name(k: Kind) -> &'static str {
    match k {
        Kind::FrontEnd => "front-end",
        Kind::BackEnd => "back-end",
    }
}

pub fn place_name(p: Place) -> &'static str {
    match p {
        Place::Remote => "remote",
        Place::Hit => "hit",
        Place::Local => "local",
        Place::Fallback => "fallback",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(kind: Kind, place: Place, start: f64, end: f64, compile: f64) -> JobRecord {
        JobRecord {
            kind,
            place,
            output: "x".into(),
            start,
            end,
            compile_seconds: compile,
            engine_seconds: compile + 0.05,
            uploaded: 10,
            downloaded: 5,
            why_local: None,
            exit_code: 0,
            scan: (kind == Kind::FrontEnd && place == Place::Hit).then_some(Scan::Reused),
            retries: u32::from(place == Place::Remote),
        }
    }

    #[test]
    fn the_summary_counts_places_and_overheads() {
        let rs = vec![
            rec(Kind::FrontEnd, Place::Local, 0.0, 1.0, 1.0),
            rec(Kind::BackEnd, Place::Remote, 1.0, 1.5, 0.4),
            rec(Kind::BackEnd, Place::Hit, 1.0, 1.02, 0.0),
            rec(Kind::BackEnd, Place::Hit, 1.0, 1.03, 0.0),
        ];
        let with_reused = RemoteSummary::of(None, &[rec(Kind::FrontEnd, Place::Hit, 0.0, 0.01, 0.0)]);
        assert_eq!(with_reused.line(Kind::FrontEnd), "0 remote, 1 hits, 0 local, 1 scans reused");
        let s = RemoteSummary::of(None, &rs);
        assert_eq!((s.count(Kind::BackEnd, Place::Remote), s.count(Kind::BackEnd, Place::Hit)), (1, 2));
        assert_eq!(s.count(Kind::FrontEnd, Place::Local), 1);
        assert_eq!((s.bytes_uploaded, s.retries), (40, 1));
        assert_eq!(s.line(Kind::BackEnd), "1 remote, 2 hits, 0 local");
        assert_eq!(s.line(Kind::FrontEnd), "0 remote, 0 hits, 1 local");
        assert_eq!(s.line_with_seconds(Kind::FrontEnd), "0 remote, 0 hits, 1 local; 1.0 s");
        assert!((s.seconds["back-end hit"] - 0.05).abs() < 1e-9 && s.seconds["front-end local"] == 1.0);
        let m = s.median_overhead_ms.unwrap();
        assert!((m - 50.0).abs() < 1e-6, "the remote job: 0.5 s less 0.45 s on the engine: {m}");
        assert!((s.median_engine_overhead_ms.unwrap() - 50.0).abs() < 1e-6);
        assert!((s.median_hit_ms.unwrap() - 25.0).abs() < 1e-6, "the mean of two hits");
    }
}
