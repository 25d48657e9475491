//! The test network: two hosts and a router between them, each a network namespace, with the
//! router impairing what it carries. Needs root (CI runs as root); nothing leaves the namespaces.
//!
//! ```text
//!   host a (10.77.0.1) ── eth0 ═ ra ── router ── rb ═ eth0 ── host b (10.77.0.2)
//! ```
//!
//! The router is a userspace bridge (see [`bridge`]): it copies frames between `ra` and `rb`
//! after a per-direction delay and jitter (this kernel has no netem). Loss is nftables' random
//! drop on the receiving host's ingress; a bandwidth cap is a `tbf` qdisc on the router's port
//! toward the receiver, changeable mid-call. Both hosts are on one /24 with no default route, so
//! there is no route covering multicast either.
#![allow(dead_code)]

pub mod bridge;
pub mod nat;

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use bridge::{Bridge, Impairment};

pub const ADDR_A: &str = "10.77.0.1";
pub const ADDR_B: &str = "10.77.0.2";

/// One side of the lab.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Host {
    A,
    B,
}

/// The direction packets travel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dir {
    AtoB,
    BtoA,
}

pub struct NetLab {
    tag: String,
    bridge: Option<Bridge>,
    delays: [Arc<Impairment>; 2],
}

/// Runs `ip` / `nft` / `tc` / `ethtool`; a failure is the lab's failure.
pub(crate) fn run(program: &str, args: &[&str]) {
    let out = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run {program}: {e} (scripts/install-deps.sh installs it)")
        });
    assert!(
        out.status.success(),
        "{program} {} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

pub(crate) fn in_ns(ns: &str, program: &str, args: &[&str]) {
    let mut all = vec!["netns", "exec", ns, program];
    all.extend_from_slice(args);
    run("ip", &all);
}

/// Runs `work` on a thread inside the namespace `ns`, with its own runtime.
pub(crate) fn spawn_in_ns<T, F>(
    ns: String,
    work: impl FnOnce() -> F + Send + 'static,
) -> std::thread::JoinHandle<T>
where
    T: Send + 'static,
    F: std::future::Future<Output = T>,
{
    std::thread::spawn(move || {
        bridge::enter_netns(&ns).expect("enter the namespace");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        runtime.block_on(work())
    })
}

/// The lab needs root (namespaces, nftables, qdiscs): say so plainly rather than skip.
pub fn require_root() {
    // SAFETY: geteuid has no preconditions.
    let euid = unsafe { libc::geteuid() };
    assert_eq!(
        euid, 0,
        "the impaired-network tests build network namespaces and need root (CI runs as root)"
    );
}

impl NetLab {
    /// Builds the namespaces `pcl-TAG-{a,b,r}` (removing leftovers of an earlier run first) and
    /// starts the router's bridge with a clean link.
    pub fn new(tag: &str) -> NetLab {
        require_root();
        let mut lab = NetLab {
            tag: tag.to_string(),
            bridge: None,
            delays: [Arc::default(), Arc::default()],
        };
        lab.remove();
        let (a, b, r) = (lab.ns(Host::A), lab.ns(Host::B), lab.router());
        for ns in [&a, &b, &r] {
            run("ip", &["netns", "add", ns]);
            in_ns(ns, "ip", &["link", "set", "lo", "up"]);
            in_ns(ns, "sysctl", &["-qw", "net.ipv6.conf.all.disable_ipv6=1"]);
        }
        run(
            "ip",
            &[
                "link", "add", "eth0", "netns", &a, "type", "veth", "peer", "name", "ra", "netns",
                &r,
            ],
        );
        run(
            "ip",
            &[
                "link", "add", "eth0", "netns", &b, "type", "veth", "peer", "name", "rb", "netns",
                &r,
            ],
        );
        for (ns, dev, addr) in [
            (&a, "eth0", Some(ADDR_A)),
            (&b, "eth0", Some(ADDR_B)),
            (&r, "ra", None),
            (&r, "rb", None),
        ] {
            // The bridge copies frames as they are: no offloads that leave checksums to
            // hardware or hand it 64 KiB segments.
            in_ns(
                ns,
                "ethtool",
                &[
                    "-K", dev, "tx", "off", "tso", "off", "gso", "off", "gro", "off",
                ],
            );
            if let Some(addr) = addr {
                in_ns(
                    ns,
                    "ip",
                    &["addr", "add", &format!("{addr}/24"), "dev", dev],
                );
            }
            in_ns(ns, "ip", &["link", "set", dev, "up"]);
        }
        lab.bridge = Some(Bridge::start(&r, "ra", "rb", lab.delays.clone()));
        lab
    }

    pub fn ns(&self, host: Host) -> String {
        match host {
            Host::A => format!("pcl-{}-a", self.tag),
            Host::B => format!("pcl-{}-b", self.tag),
        }
    }

    fn router(&self) -> String {
        format!("pcl-{}-r", self.tag)
    }

    pub fn addr(host: Host) -> &'static str {
        match host {
            Host::A => ADDR_A,
            Host::B => ADDR_B,
        }
    }

    /// A command that runs `program` inside `host`'s namespace.
    pub fn command(&self, host: Host, program: &str) -> Command {
        let mut command = Command::new("ip");
        command.args(["netns", "exec", &self.ns(host), program]);
        command
    }

    /// Gives both hosts a route for multicast (as a LAN has), so mDNS works between them.
    pub fn route_multicast(&self) {
        for host in [Host::A, Host::B] {
            in_ns(
                &self.ns(host),
                "ip",
                &["route", "add", "224.0.0.0/4", "dev", "eth0"],
            );
        }
    }

    /// Runs `work` on a thread inside `host`'s namespace, with its own runtime: the sockets it
    /// opens and the processes it starts (a browser) live on that host.
    pub fn run_in<T, F>(&self, host: Host, work: impl FnOnce() -> F + Send + 'static) -> T
    where
        T: Send + 'static,
        F: std::future::Future<Output = T>,
    {
        self.spawn_in(host, work)
            .join()
            .unwrap_or_else(|e| std::panic::resume_unwind(e))
    }

    /// Like [`NetLab::run_in`], without waiting for it.
    pub fn spawn_in<T, F>(
        &self,
        host: Host,
        work: impl FnOnce() -> F + Send + 'static,
    ) -> std::thread::JoinHandle<T>
    where
        T: Send + 'static,
        F: std::future::Future<Output = T>,
    {
        spawn_in_ns(self.ns(host), work)
    }

    /// Random loss of `percent` of the packets travelling `dir` (0 removes it).
    pub fn set_loss(&self, dir: Dir, percent: u32) {
        let ns = self.ns(match dir {
            Dir::AtoB => Host::B,
            Dir::BtoA => Host::A,
        });
        let _ = Command::new("ip")
            .args([
                "netns", "exec", &ns, "nft", "delete", "table", "netdev", "loss",
            ])
            .stderr(Stdio::null())
            .status();
        if percent == 0 {
            return;
        }
        in_ns(&ns, "nft", &["add", "table", "netdev", "loss"]);
        in_ns(
            &ns,
            "nft",
            &[
                "add",
                "chain",
                "netdev",
                "loss",
                "ingress",
                "{ type filter hook ingress device eth0 priority 0; policy accept; }",
            ],
        );
        // IP only: an address lookup (ARP) lost three times running fails a connection outright
        // ("no route to host", seen once at 5 %), which is not the link quality under test.
        let rule = format!("meta protocol ip numgen random mod 100 < {percent} counter drop");
        in_ns(
            &ns,
            "nft",
            &["add", "rule", "netdev", "loss", "ingress", &rule],
        );
    }

    /// Caps what travels `dir` to `kbit` kbit/s (a token bucket with a 400 ms queue, as a
    /// home router's), or lifts the cap.
    pub fn set_rate(&self, dir: Dir, kbit: Option<u32>) {
        let dev = match dir {
            Dir::AtoB => "rb",
            Dir::BtoA => "ra",
        };
        let router = self.router();
        let _ = Command::new("ip")
            .args([
                "netns", "exec", &router, "tc", "qdisc", "del", "dev", dev, "root",
            ])
            .stderr(Stdio::null())
            .status();
        if let Some(kbit) = kbit {
            let rate = format!("{kbit}kbit");
            in_ns(
                &router,
                "tc",
                &[
                    "qdisc", "add", "dev", dev, "root", "tbf", "rate", &rate, "burst", "4kb",
                    "latency", "400ms",
                ],
            );
        }
    }

    /// One-way delay of packets travelling `dir`, each shifted by up to ±`jitter` (without
    /// reordering: a packet never overtakes the one before it).
    pub fn set_delay(&self, dir: Dir, delay: Duration, jitter: Duration) {
        let i = match dir {
            Dir::AtoB => 0,
            Dir::BtoA => 1,
        };
        self.delays[i].set(delay, jitter);
    }

    /// The same impairment both ways.
    pub fn impair_both(&self, loss_percent: u32, one_way_delay: Duration, jitter: Duration) {
        for dir in [Dir::AtoB, Dir::BtoA] {
            self.set_loss(dir, loss_percent);
            self.set_delay(dir, one_way_delay, jitter);
        }
    }

    /// Packets the bridge carried each way (a → b, b → a).
    pub fn forwarded(&self) -> (u64, u64) {
        self.bridge.as_ref().map_or((0, 0), Bridge::forwarded)
    }

    fn remove(&self) {
        for ns in [self.ns(Host::A), self.ns(Host::B), self.router()] {
            if std::path::Path::new("/run/netns").join(&ns).exists() {
                // Killing what still runs inside lets the namespace go.
                let _ = Command::new("ip")
                    .args(["netns", "pids", &ns])
                    .output()
                    .map(|out| {
                        for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                            let _ = Command::new("kill").args(["-9", pid]).status();
                        }
                    });
                let _ = Command::new("ip").args(["netns", "del", &ns]).status();
            }
        }
    }
}

impl Drop for NetLab {
    fn drop(&mut self) {
        if let Some(bridge) = self.bridge.take() {
            bridge.stop();
        }
        self.remove();
    }
}
