//! The scale-out projection: from the compile times the launcher recorded
//! and the measured wall time, a list-scheduling simulation of the same
//! build with W workers. A projection, labelled as one: the serial parts
//! (configuration, the thin-link, the final link, in-process ThinLTO's LTO
//! link) stay as measured; compiles are spread over W workers, each as
//! fast as one core of this machine (a compile the engine ran: for all the
//! engine spent on it), while the launcher's dependency scans of front-ends
//! sent to the engine stay on the local cores.

use serde::{Deserialize, Serialize};

use crate::launcher::record::{JobRecord, Kind, Place};

/// Worker counts of the table; `None` is unlimited (the critical path).
pub const WORKERS: [Option<usize>; 7] = [Some(1), Some(2), Some(4), Some(8), Some(16), Some(64), None];

/// One measured build, as the simulation sees it.
#[derive(Debug, Clone)]
pub struct Measured {
    pub wall: f64,
    pub frontend: Vec<f64>,
    pub backend: Vec<f64>,
    /// The launcher's own time for each front-end sent to the engine (its
    /// dependency scan, hashing): work that stays on the local cores.
    pub scans: Vec<f64>,
    /// Cores the measured build ran its compiles on.
    pub local_cores: usize,
}

impl Measured {
    /// Compile durations by stage from the records of a cold build.
    pub fn of(wall: f64, records: &[JobRecord], local_cores: usize) -> Self {
        let mut rs: Vec<&JobRecord> = records.iter().collect();
        rs.sort_by(|a, b| a.start.total_cmp(&b.start));
        // A remote job occupies a worker for all the engine did (staging, sandbox, compile).
        let pick =
            |k: Kind| rs.iter().filter(|r| r.kind == k).map(|r| r.compile_seconds.max(r.engine_seconds)).collect();
        let scans = rs
            .iter()
            .filter(|r| r.kind == Kind::FrontEnd && matches!(r.place, Place::Remote | Place::Hit))
            .map(|r| r.overhead())
            .collect();
        Self { wall, frontend: pick(Kind::FrontEnd), backend: pick(Kind::BackEnd), scans, local_cores }
    }

    /// The front-end stage with `w` workers: never shorter than the local
    /// scans of the compiles sent to the engine.
    fn frontends_on(&self, w: Option<usize>) -> f64 {
        schedule(&self.frontend, w).max(schedule(&self.scans, Some(self.local_cores)))
    }

    /// Wall time not spent in compiles: what no worker count shortens.
    fn serial(&self) -> f64 {
        let on = |jobs: &[f64]| schedule(jobs, Some(self.local_cores));
        (self.wall - on(&self.frontend) - on(&self.backend)).max(0.0)
    }
}

/// List scheduling in the order the build issued the jobs: each job to the
/// worker that is free first. The makespan.
pub fn schedule(jobs: &[f64], workers: Option<usize>) -> f64 {
    let Some(w) = workers else { return jobs.iter().cloned().fold(0.0, f64::max) };
    let mut free = vec![0.0f64; w.max(1)];
    for &j in jobs {
        let (i, _) = free.iter().enumerate().min_by(|a, b| a.1.total_cmp(b.1)).expect("a worker");
        free[i] += j;
    }
    free.into_iter().fold(0.0, f64::max)
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Row {
    pub name: String,
    /// Projected wall seconds per worker count ("unlimited" last).
    pub seconds: Vec<(String, f64)>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Projection {
    pub kind: String,
    pub rows: Vec<Row>,
    /// The smallest worker count at which THIN_DIST (all compiles remote) beats in-process ThinLTO.
    pub crossover_workers: Option<usize>,
}

fn label(w: Option<usize>) -> String {
    w.map(|w| w.to_string()).unwrap_or_else(|| "unlimited".into())
}

/// THIN_DIST (`dist`) against in-process ThinLTO (`inproc`), both cold builds.
pub fn project(dist: &Measured, inproc: &Measured) -> Projection {
    let local = Some(dist.local_cores);
    let row = |name: &str, f: &dyn Fn(Option<usize>) -> f64| Row {
        name: name.into(),
        seconds: WORKERS.iter().map(|w| (label(*w), f(*w))).collect(),
    };
    let dist_be = |w| dist.serial() + schedule(&dist.frontend, local) + schedule(&dist.backend, w);
    let dist_all = |w| dist.serial() + dist.frontends_on(w) + schedule(&dist.backend, w);
    // In-process ThinLTO's back-end work is inside its link, on one machine: serial here.
    let inproc_all = |w| inproc.serial() + inproc.frontends_on(w) + schedule(&inproc.backend, w);
    let crossover = WORKERS.iter().flatten().copied().find(|&w| dist_all(Some(w)) < inproc_all(Some(w)));
    Projection {
        kind: "projection (list scheduling of measured compile times; serial parts as measured)".into(),
        rows: vec![
            row("THIN_DIST, back-ends remote", &dist_be),
            row("THIN_DIST, front- and back-ends remote", &dist_all),
            row("in-process ThinLTO, front-ends remote", &inproc_all),
        ],
        crossover_workers: crossover,
    }
}

impl Projection {
    pub fn print(&self) {
        println!("  scale-out {}:", self.kind);
        let header: Vec<String> = self.rows[0].seconds.iter().map(|(w, _)| format!("{w:>10}")).collect();
        println!("    {:<42}{}", "workers", header.join(""));
        for r in &self.rows {
            let cells: Vec<String> = r.seconds.iter().map(|(_, s)| format!("{s:>9.1}s")).collect();
            println!("    {:<42}{}", r.name, cells.join(""));
        }
        match self.crossover_workers {
            Some(w) => println!("    THIN_DIST (all compiles remote) is projected faster from {w} workers on"),
            None => println!("    THIN_DIST is not projected faster at any worker count of the table"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_scheduling_spreads_jobs() {
        let jobs = [3.0, 1.0, 1.0, 1.0];
        assert_eq!(schedule(&jobs, Some(1)), 6.0);
        assert_eq!(schedule(&jobs, Some(2)), 3.0);
        assert_eq!(schedule(&jobs, None), 3.0, "unlimited: the longest job");
        assert_eq!(schedule(&[], Some(4)), 0.0);
    }

    #[test]
    fn the_projection_finds_the_crossover() {
        // THIN_DIST: 10 s serial, back-ends parallel; in-process: a 20 s serial LTO link.
        let m = |wall: f64, backend: Vec<f64>| Measured {
            wall,
            frontend: vec![4.0; 4],
            backend,
            scans: vec![],
            local_cores: 2,
        };
        let dist = m(10.0 + 8.0 + 8.0, vec![4.0; 4]);
        let inproc = m(30.0 + 8.0, vec![]);
        let p = project(&dist, &inproc);
        let at = |row: usize, w: &str| p.rows[row].seconds.iter().find(|(l, _)| l == w).unwrap().1;
        assert_eq!(at(1, "2"), 26.0);
        assert_eq!(at(2, "2"), 38.0);
        assert_eq!(at(1, "unlimited"), 18.0);
        assert_eq!(at(0, "unlimited"), 10.0 + 8.0 + 4.0, "front-ends stay on the 2 local cores");
        assert_eq!(p.crossover_workers, Some(1));
        // Front-ends sent to the engine after a 3 s local scan each: 6 s on two cores at best.
        let scanned = Measured { scans: vec![3.0; 4], ..dist };
        let p = project(&scanned, &inproc);
        assert_eq!(p.rows[1].seconds.last().unwrap().1, 10.0 + 6.0 + 4.0);
    }
}
