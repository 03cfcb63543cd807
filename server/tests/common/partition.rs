//! Network partitions between the nodes of a test cluster on loopback, made with iptables.
//!
//! Each node of such a cluster serves on its own loopback address (`127.a.b.i`, see
//! [`super::cluster::loopback_hosts`]) and sends its peer messages from it
//! (`RaftSettings::local_address`), so a pair of DROP rules between two addresses cuts that link
//! both ways, while the test's clients (on `127.0.0.1`) still reach every node — the setting of
//! a Jepsen partition. Packets are dropped in INPUT, after they were sent: the sender sees a
//! silent network (connects and requests time out), as across a real partition, not the
//! immediate "operation not permitted" a drop in OUTPUT gives the local sender.
//!
//! Each [`Firewall`] owns one chain of its own (`kvt-<pid>-<n>`), jumped to first from INPUT,
//! and removes both when dropped — also when the test panics, as unwinding drops it. Chains
//! left by a test process killed outright are removed by the next `Firewall::new` (their
//! process is gone).
//!
//! iptables needs root (CAP_NET_ADMIN). `scripts/test.sh` installs it where it is missing; a test
//! asks [`Firewall::for_test`], which under `CI=true` fails loudly when iptables cannot be used
//! and elsewhere skips the test, saying so.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

const CHAIN_PREFIX: &str = "kvt-";

/// One test's set of cut links; everything it added goes away when it is dropped.
pub struct Firewall {
    chain: String,
    /// The links cut, each once, as (lower address, higher address).
    cut: Mutex<BTreeSet<(IpAddr, IpAddr)>>,
}

/// Runs `iptables -w <args>` (`-w`: wait for the xtables lock other processes may hold).
fn iptables(args: &[&str]) -> Result<String, String> {
    let out = Command::new("iptables")
        .arg("-w")
        .args(args)
        .output()
        .map_err(|e| {
            format!("cannot run iptables ({e}); install it: apt-get install -y iptables")
        })?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "iptables {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Removes the chains of test processes that no longer exist (killed before their `Drop`).
fn remove_orphan_chains() {
    let Ok(rules) = iptables(&["-S"]) else { return };
    for line in rules.lines() {
        let Some(chain) = line.strip_prefix("-N ") else {
            continue;
        };
        let Some(rest) = chain.strip_prefix(CHAIN_PREFIX) else {
            continue;
        };
        let pid = rest.split('-').next().unwrap_or("");
        if pid.parse::<u32>().is_ok() && !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            remove_chain(chain);
        }
    }
}

fn remove_chain(chain: &str) {
    // The jump may have been inserted more than once only by a bug; remove every copy.
    while iptables(&["-D", "INPUT", "-j", chain]).is_ok() {}
    let _ = iptables(&["-F", chain]);
    let _ = iptables(&["-X", chain]);
}

impl Firewall {
    /// A new, empty chain, consulted first for every packet received. Errors when iptables is
    /// missing or not permitted.
    pub fn new() -> Result<Firewall, String> {
        static N: AtomicU64 = AtomicU64::new(0);
        remove_orphan_chains();
        let chain = format!(
            "{CHAIN_PREFIX}{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        iptables(&["-N", &chain])?;
        if let Err(e) = iptables(&["-I", "INPUT", "1", "-j", &chain]) {
            let _ = iptables(&["-X", &chain]);
            return Err(e);
        }
        Ok(Firewall {
            chain,
            cut: Mutex::default(),
        })
    }

    /// The firewall for test `test`; when iptables cannot be used: a panic under `CI=true`
    /// (CI must run the partition tests), else `None` after a warning on stderr.
    pub fn for_test(test: &str) -> Option<Firewall> {
        match Firewall::new() {
            Ok(f) => Some(f),
            Err(e) if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") => {
                panic!("{test}: iptables is needed for the partition tests under CI: {e}")
            }
            Err(e) => {
                eprintln!(
                    "\n*** SKIPPED {test}: no network partitions without iptables as root: {e}\n"
                );
                None
            }
        }
    }

    /// Drops every packet between `a` and `b`, both ways (a no-op for a link already cut).
    pub fn cut(&self, a: IpAddr, b: IpAddr) {
        let link = (a.min(b), a.max(b));
        let mut cut = self.cut.lock().unwrap_or_else(|e| e.into_inner());
        if !cut.insert(link) {
            return;
        }
        for (src, dst) in [(link.0, link.1), (link.1, link.0)] {
            let (src, dst) = (src.to_string(), dst.to_string());
            iptables(&["-A", &self.chain, "-s", &src, "-d", &dst, "-j", "DROP"])
                .unwrap_or_else(|e| panic!("{e}"));
        }
    }

    /// Cuts `node` off from each of `others`.
    pub fn isolate(&self, node: IpAddr, others: &[IpAddr]) {
        for &o in others.iter().filter(|o| **o != node) {
            self.cut(node, o);
        }
    }

    /// Restores every link.
    pub fn heal(&self) {
        let mut cut = self.cut.lock().unwrap_or_else(|e| e.into_inner());
        iptables(&["-F", &self.chain]).unwrap_or_else(|e| panic!("{e}"));
        cut.clear();
    }

    /// The links cut now.
    pub fn links(&self) -> Vec<(IpAddr, IpAddr)> {
        let cut = self.cut.lock().unwrap_or_else(|e| e.into_inner());
        cut.iter().copied().collect()
    }
}

impl Drop for Firewall {
    fn drop(&mut self) {
        remove_chain(&self.chain);
    }
}
