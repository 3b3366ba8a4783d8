//! The cluster's network: a bridge holding the scheduler's address, and one
//! network namespace per worker joined to it by a veth pair. Addresses come
//! from a documentation range (TEST-NET-2 by default); no namespace gets a default
//! route, so nothing the cluster runs can reach past the bridge.

use anyhow::{bail, Result};

use crate::exec::Cmd;

/// Names and addresses of one cluster's network, from its id.
#[derive(Debug, Clone)]
pub struct Net {
    /// Short, so that interface names stay within 15 characters.
    pub id: String,
    /// The first three octets of the /24.
    pub subnet: String,
}

impl Net {
    pub fn bridge(&self) -> String {
        format!("td{}br", self.id)
    }

    pub fn scheduler_addr(&self) -> String {
        format!("{}.1", self.subnet)
    }

    pub fn namespace(&self, worker: usize) -> String {
        format!("thindist-{}-w{worker}", self.id)
    }

    pub fn worker_addr(&self, worker: usize) -> String {
        format!("{}.{}", self.subnet, 10 + worker)
    }

    fn veth(&self, worker: usize) -> String {
        format!("td{}w{worker}", self.id)
    }

    /// Refuses a subnet an interface or a route of this machine already
    /// uses (a cluster left up, or a network of the machine's own).
    pub fn check_free(&self) -> Result<()> {
        let addrs = ip(&["-o", "-4", "addr", "show"]).read()?;
        let routes = ip(&["-4", "route", "show"]).read()?;
        let prefix = format!("{}.", self.subnet);
        let taken = |l: &&str| l.split_whitespace().any(|w| w.starts_with(&prefix));
        if let Some(line) = addrs.lines().find(taken).or_else(|| routes.lines().find(taken)) {
            let dev = line.split_whitespace().skip_while(|w| *w != "dev").nth(1);
            let dev = dev.or_else(|| line.split_whitespace().nth(1)).unwrap_or("?");
            bail!(
                "{}.0/24 is already on interface {dev}; if it is a thindist cluster, take it down with `cargo xtask remote cluster down`",
                self.subnet
            );
        }
        Ok(())
    }

    /// The bridge, up, with the scheduler's address.
    pub fn add_bridge(&self) -> Result<()> {
        let br = self.bridge();
        ip(&["link", "add", &br, "type", "bridge"]).run_quiet()?;
        ip(&["addr", "add", &format!("{}/24", self.scheduler_addr()), "dev", &br]).run_quiet()?;
        ip(&["link", "set", &br, "up"]).run_quiet()
    }

    /// Worker `n`'s namespace: loopback up (its casd listens there) and
    /// `eth0` on the bridge with the worker's address.
    pub fn add_worker(&self, n: usize) -> Result<()> {
        let (ns, veth) = (self.namespace(n), self.veth(n));
        ip(&["netns", "add", &ns]).run_quiet()?;
        ip(&["link", "add", &veth, "type", "veth", "peer", "name", "eth0", "netns", &ns]).run_quiet()?;
        ip(&["link", "set", &veth, "master", &self.bridge(), "up"]).run_quiet()?;
        ip(&["-n", &ns, "addr", "add", &format!("{}/24", self.worker_addr(n)), "dev", "eth0"]).run_quiet()?;
        ip(&["-n", &ns, "link", "set", "eth0", "up"]).run_quiet()?;
        ip(&["-n", &ns, "link", "set", "lo", "up"]).run_quiet()
    }

    /// A command run inside worker `n`'s namespace.
    pub fn inside(&self, n: usize, cmd: &Cmd) -> Cmd {
        cmd.run_by(&["ip", "netns", "exec", &self.namespace(n)])
    }

    /// Removes worker `n`'s namespace (its veth pair goes with it); one
    /// already gone is fine.
    pub fn remove_worker(&self, n: usize) {
        let _ = ip(&["netns", "del", &self.namespace(n)]).run_quiet();
    }

    pub fn remove_bridge(&self) {
        let _ = ip(&["link", "del", &self.bridge()]).run_quiet();
    }

    /// This cluster's namespaces that exist, by worker number.
    pub fn namespaces(&self) -> Vec<usize> {
        let listed = ip(&["netns", "list"]).read().unwrap_or_default();
        let prefix = format!("thindist-{}-w", self.id);
        listed.lines().filter_map(|l| l.split_whitespace().next()?.strip_prefix(&prefix)?.parse().ok()).collect()
    }
}

fn ip(args: &[&str]) -> Cmd {
    Cmd::new("ip").args(args)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_fit_the_kernels_limits_and_addresses_stay_in_the_subnet() {
        let net = Net { id: "ffff".into(), subnet: "198.51.100".into() };
        // IFNAMSIZ: 15 characters and the terminating NUL.
        for name in [net.bridge(), net.veth(50)] {
            assert!(name.len() <= 15, "{name}");
        }
        assert_eq!(net.scheduler_addr(), "198.51.100.1");
        assert_eq!(net.worker_addr(1), "198.51.100.11");
        assert_eq!(net.namespace(2), "thindist-ffff-w2");
    }
}
