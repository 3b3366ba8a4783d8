//! `remote cluster status` as a person reads it.

use crate::cluster::Status;

pub fn print(s: &Status) {
    let state = |up: bool| if up { "running" } else { "NOT RUNNING" };
    println!("cluster: {}", s.url);
    println!("  scheduler (BuildGrid): {}", state(s.scheduler));
    println!("  database (PostgreSQL): {}", state(s.database));
    println!("  files: {}", s.dir.display());
    for w in &s.workers {
        println!("  worker {} at {}: {}, {} jobs run ({} failed)", w.n, w.address, state(w.running), w.jobs, w.failed);
    }
}
