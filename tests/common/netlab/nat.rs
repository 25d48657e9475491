//! A home network behind a NAT and the public internet, as network namespaces:
//!
//! ```text
//!   home (192.168.77.2) ── hr ═ router ═ rb ── bob (203.0.113.2)
//!                                 ║
//!                                 rs ── srv (198.51.100.2): signaling server + TURN server
//! ```
//!
//! The router masquerades whatever leaves the home network and drops what nobody inside asked
//! for (a home router's NAT: only hole punching or a relay crosses it). [`NatLab::block_direct`]
//! also drops everything between home and bob, so only the relay on `srv` joins them.

use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use super::{in_ns, require_root, run};

pub const HOME: &str = "192.168.77.2";
pub const BOB: &str = "203.0.113.2";
pub const SRV: &str = "198.51.100.2";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Site {
    Home,
    Bob,
    Srv,
}

pub struct NatLab {
    tag: String,
}

impl NatLab {
    /// Builds `pcl-TAG-{home,bob,srv,r}` (removing leftovers of an earlier run first).
    pub fn new(tag: &str) -> NatLab {
        require_root();
        let lab = NatLab {
            tag: tag.to_string(),
        };
        lab.remove();
        let r = lab.router();
        run("ip", &["netns", "add", &r]);
        in_ns(&r, "ip", &["link", "set", "lo", "up"]);
        in_ns(&r, "sysctl", &["-qw", "net.ipv4.ip_forward=1"]);
        for (site, port, addr, gateway) in [
            (Site::Home, "rh", HOME, "192.168.77.1"),
            (Site::Bob, "rb", BOB, "203.0.113.1"),
            (Site::Srv, "rs", SRV, "198.51.100.1"),
        ] {
            let ns = lab.ns(site);
            run("ip", &["netns", "add", &ns]);
            in_ns(&ns, "ip", &["link", "set", "lo", "up"]);
            in_ns(&ns, "sysctl", &["-qw", "net.ipv6.conf.all.disable_ipv6=1"]);
            run(
                "ip",
                &[
                    "link", "add", "eth0", "netns", &ns, "type", "veth", "peer", "name", port,
                    "netns", &r,
                ],
            );
            in_ns(
                &ns,
                "ip",
                &["addr", "add", &format!("{addr}/24"), "dev", "eth0"],
            );
            in_ns(&ns, "ip", &["link", "set", "eth0", "up"]);
            in_ns(&ns, "ip", &["route", "add", "default", "via", gateway]);
            in_ns(
                &r,
                "ip",
                &["addr", "add", &format!("{gateway}/24"), "dev", port],
            );
            in_ns(&r, "ip", &["link", "set", port, "up"]);
        }
        let rules = "table ip nat {
              chain post { type nat hook postrouting priority 100; oifname != \"rh\" ip saddr 192.168.77.0/24 masquerade; }
            }
            table ip filter {
              chain through {
                type filter hook forward priority 0; policy accept;
                ct state established,related accept
                oifname \"rh\" counter drop
              }
            }";
        lab.nft(rules);
        lab
    }

    fn nft(&self, rules: &str) {
        static WRITTEN: AtomicU32 = AtomicU32::new(0);
        let n = WRITTEN.fetch_add(1, Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("pcl-{}-{}-{n}.nft", self.tag, std::process::id()));
        std::fs::write(&path, rules).expect("write the nftables rules");
        in_ns(&self.router(), "nft", &["-f", path.to_str().unwrap()]);
        let _ = std::fs::remove_file(path);
    }

    /// No packet between home and bob, either way (even one answering a hole punch).
    pub fn block_direct(&self) {
        self.nft(&format!(
            "table ip block {{
               chain through {{
                 type filter hook forward priority -10; policy accept;
                 ip saddr 192.168.77.0/24 ip daddr {BOB} counter drop
                 ip saddr {BOB} ip daddr 192.168.77.0/24 counter drop
               }}
             }}"
        ));
    }

    pub fn ns(&self, site: Site) -> String {
        let name = match site {
            Site::Home => "home",
            Site::Bob => "bob",
            Site::Srv => "srv",
        };
        format!("pcl-{}-{name}", self.tag)
    }

    fn router(&self) -> String {
        format!("pcl-{}-r", self.tag)
    }

    /// A command that runs `program` inside `site`'s namespace.
    pub fn command(&self, site: Site, program: &str) -> Command {
        let mut command = Command::new("ip");
        command.args(["netns", "exec", &self.ns(site), program]);
        command
    }

    /// Runs `work` on a thread inside `site`'s namespace (a browser it starts lives there).
    pub fn spawn_in<T, F>(
        &self,
        site: Site,
        work: impl FnOnce() -> F + Send + 'static,
    ) -> std::thread::JoinHandle<T>
    where
        T: Send + 'static,
        F: std::future::Future<Output = T>,
    {
        super::spawn_in_ns(self.ns(site), work)
    }

    fn remove(&self) {
        for ns in [
            self.ns(Site::Home),
            self.ns(Site::Bob),
            self.ns(Site::Srv),
            self.router(),
        ] {
            let _ = Command::new("ip")
                .args(["netns", "del", &ns])
                .stderr(std::process::Stdio::null())
                .status();
        }
    }
}

impl Drop for NatLab {
    fn drop(&mut self) {
        self.remove();
    }
}
