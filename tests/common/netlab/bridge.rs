//! The router's userspace bridge: frames read from one port (an `AF_PACKET` socket) are sent out
//! of the other after their direction's delay and jitter. One thread, inside the router's
//! namespace; a queue per direction ordered by due time, which never lets a packet overtake the
//! one before it.

use std::collections::VecDeque;
use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// A direction's delay, changeable while the bridge runs.
#[derive(Debug, Default)]
pub struct Impairment {
    delay_us: AtomicU64,
    jitter_us: AtomicU64,
}

impl Impairment {
    pub fn set(&self, delay: Duration, jitter: Duration) {
        self.delay_us
            .store(delay.as_micros() as u64, Ordering::Relaxed);
        self.jitter_us
            .store(jitter.as_micros() as u64, Ordering::Relaxed);
    }
}

pub struct Bridge {
    stop: Arc<AtomicBool>,
    forwarded: Arc<[AtomicU64; 2]>,
    thread: JoinHandle<()>,
}

/// Moves the calling thread into the network namespace `ns` (made by `ip netns add`). Sockets the
/// thread creates afterwards, and processes it starts, live there.
pub fn enter_netns(ns: &str) -> io::Result<()> {
    let path = std::path::Path::new("/run/netns").join(ns);
    let file = std::fs::File::open(&path)?;
    // SAFETY: a valid namespace fd; setns affects only this thread.
    if unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// A raw socket on one interface, receiving every frame that arrives on it.
fn packet_socket(interface: &str) -> io::Result<OwnedFd> {
    let protocol = (libc::ETH_P_ALL as u16).to_be();
    // SAFETY: plain socket creation; the fd is owned at once.
    let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW, protocol as i32) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fd is a fresh, valid descriptor.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let name = CString::new(interface).expect("interface name");
    // SAFETY: a NUL-terminated name.
    let index = unsafe { libc::if_nametoindex(name.as_ptr()) };
    if index == 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: sockaddr_ll is plain data; zeroed is a valid start.
    let mut addr: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    addr.sll_family = libc::AF_PACKET as u16;
    addr.sll_protocol = protocol;
    addr.sll_ifindex = index as i32;
    // SAFETY: addr is a sockaddr_ll of the size given.
    let bound = unsafe {
        libc::bind(
            fd.as_raw_fd(),
            &addr as *const libc::sockaddr_ll as *const libc::sockaddr,
            std::mem::size_of::<libc::sockaddr_ll>() as u32,
        )
    };
    if bound != 0 {
        return Err(io::Error::last_os_error());
    }
    let size: libc::c_int = 4 << 20;
    // SAFETY: an int option of the size given.
    unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            &size as *const libc::c_int as *const libc::c_void,
            std::mem::size_of::<libc::c_int>() as u32,
        );
    }
    Ok(fd)
}

/// The next frame that arrived from the wire (frames we sent out ourselves are skipped), or
/// `None` when nothing is waiting.
fn receive(fd: &OwnedFd, buf: &mut [u8]) -> Option<usize> {
    loop {
        // SAFETY: as above.
        let mut from: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        let mut len = std::mem::size_of::<libc::sockaddr_ll>() as u32;
        // SAFETY: buf and from are valid for the sizes given.
        let n = unsafe {
            libc::recvfrom(
                fd.as_raw_fd(),
                buf.as_mut_ptr() as *mut libc::c_void,
                buf.len(),
                libc::MSG_DONTWAIT,
                &mut from as *mut libc::sockaddr_ll as *mut libc::sockaddr,
                &mut len,
            )
        };
        if n < 0 {
            return None;
        }
        if from.sll_pkttype == libc::PACKET_OUTGOING {
            continue;
        }
        return Some(n as usize);
    }
}

fn send(fd: &OwnedFd, frame: &[u8]) {
    // A full queue on a capped port drops the frame, as a router would.
    // SAFETY: frame is valid for its length.
    unsafe {
        libc::send(
            fd.as_raw_fd(),
            frame.as_ptr() as *const libc::c_void,
            frame.len(),
            libc::MSG_DONTWAIT,
        );
    }
}

/// A small xorshift: jitter needs spread, not cryptography.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

struct Direction {
    from: OwnedFd,
    to: OwnedFd,
    impairment: Arc<Impairment>,
    queue: VecDeque<(Instant, Vec<u8>)>,
    last_due: Instant,
}

impl Direction {
    fn take_in(&mut self, now: Instant, rng: &mut Rng, buf: &mut [u8]) {
        while let Some(n) = receive(&self.from, buf) {
            let delay = self.impairment.delay_us.load(Ordering::Relaxed) as i64;
            let jitter = self.impairment.jitter_us.load(Ordering::Relaxed) as i64;
            let shift = if jitter > 0 {
                (rng.next() % (2 * jitter as u64 + 1)) as i64 - jitter
            } else {
                0
            };
            let due = now + Duration::from_micros((delay + shift).max(0) as u64);
            let due = due.max(self.last_due);
            self.last_due = due;
            self.queue.push_back((due, buf[..n].to_vec()));
        }
    }

    fn send_due(&mut self, now: Instant) -> u64 {
        let mut sent = 0;
        while self.queue.front().is_some_and(|(due, _)| *due <= now) {
            let (_, frame) = self.queue.pop_front().expect("front checked");
            send(&self.to, &frame);
            sent += 1;
        }
        sent
    }
}

impl Bridge {
    /// Starts bridging `port_a` and `port_b` inside namespace `ns`; `delays[0]` applies to
    /// frames from a to b, `delays[1]` to the other way.
    pub fn start(ns: &str, port_a: &str, port_b: &str, delays: [Arc<Impairment>; 2]) -> Bridge {
        let stop = Arc::new(AtomicBool::new(false));
        let forwarded: Arc<[AtomicU64; 2]> = Arc::default();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let thread = {
            let (ns, port_a, port_b) = (ns.to_string(), port_a.to_string(), port_b.to_string());
            let (stop, forwarded) = (stop.clone(), forwarded.clone());
            std::thread::Builder::new()
                .name("netlab-bridge".into())
                .spawn(move || {
                    let open = || -> io::Result<[Direction; 2]> {
                        enter_netns(&ns)?;
                        let now = Instant::now();
                        let [to_b, to_a] = delays;
                        Ok([
                            Direction {
                                from: packet_socket(&port_a)?,
                                to: packet_socket(&port_b)?,
                                impairment: to_b,
                                queue: VecDeque::new(),
                                last_due: now,
                            },
                            Direction {
                                from: packet_socket(&port_b)?,
                                to: packet_socket(&port_a)?,
                                impairment: to_a,
                                queue: VecDeque::new(),
                                last_due: now,
                            },
                        ])
                    };
                    match open() {
                        Ok(directions) => {
                            let _ = ready_tx.send(Ok(()));
                            bridge(directions, &stop, &forwarded);
                        }
                        Err(e) => {
                            let _ = ready_tx.send(Err(e));
                        }
                    }
                })
                .expect("spawn the bridge")
        };
        ready_rx
            .recv()
            .expect("bridge thread")
            .unwrap_or_else(|e| panic!("the router's bridge cannot start: {e}"));
        Bridge {
            stop,
            forwarded,
            thread,
        }
    }

    pub fn forwarded(&self) -> (u64, u64) {
        (
            self.forwarded[0].load(Ordering::Relaxed),
            self.forwarded[1].load(Ordering::Relaxed),
        )
    }

    pub fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.thread.join();
    }
}

fn bridge(mut directions: [Direction; 2], stop: &AtomicBool, forwarded: &[AtomicU64; 2]) {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut buf = vec![0u8; 65_536];
    while !stop.load(Ordering::Relaxed) {
        let now = Instant::now();
        let next_due = directions
            .iter()
            .filter_map(|d| d.queue.front().map(|(due, _)| *due))
            .min();
        let wait = next_due
            .map_or(Duration::from_millis(50), |due| {
                due.saturating_duration_since(now)
            })
            .min(Duration::from_millis(50));
        let mut fds = [
            libc::pollfd {
                fd: directions[0].from.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: directions[1].from.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        let timeout = libc::timespec {
            tv_sec: wait.as_secs() as libc::time_t,
            tv_nsec: wait.subsec_nanos() as libc::c_long,
        };
        // SAFETY: two valid pollfds and a valid timespec.
        unsafe { libc::ppoll(fds.as_mut_ptr(), 2, &timeout, std::ptr::null()) };
        let now = Instant::now();
        for (i, direction) in directions.iter_mut().enumerate() {
            direction.take_in(now, &mut rng, &mut buf);
            let sent = direction.send_due(now);
            forwarded[i].fetch_add(sent, Ordering::Relaxed);
        }
    }
}
