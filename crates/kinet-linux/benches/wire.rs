//! Pod wiring benchmark (run as root: `cargo bench -p kinet-linux --bench wire`):
//! 100 Calico-style pods wired into one node, as the node agent wires them — a
//! veth `cali…` in the node (up, proxy ARP, a /32 route) and `eth0` in the pod
//! (IP/32, default via 169.254.1.1 onlink).
//!
//! Real namespaces under /run/klbench<pid>_<n>, removed at the end even on failure.
//! Prints figures; asserts nothing about time.

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use kinet_linux::{Netlink, netns};

const PODS: usize = 100;
const RUNS: usize = 5;

/// The namespaces of one run; deleted on drop.
struct Run {
    dir: PathBuf,
    nss: Vec<PathBuf>,
}

impl Run {
    fn new(n: usize) -> Run {
        let dir = PathBuf::from(format!("/run/klbench{}_{n}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create the run's directory");
        Run {
            dir,
            nss: Vec::new(),
        }
    }

    fn ns(&mut self, name: &str) -> PathBuf {
        let p = self.dir.join(name);
        netns::create(&p).unwrap_or_else(|e| panic!("create {}: {e}", p.display()));
        self.nss.push(p.clone());
        p
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        for ns in self.nss.drain(..) {
            if let Err(e) = netns::delete(&ns) {
                eprintln!("cleanup: {e}");
            }
        }
        let _ = std::fs::remove_dir(&self.dir);
    }
}

/// Wires pod `i` (namespace `pod`) into the node with the agent's routine.
fn wire(_n: &mut Netlink, node: &std::path::Path, pod: &std::path::Path, i: usize) {
    let cali = format!("cali{i:011}");
    let pod_ip = Ipv4Addr::new(10, 1, 1, 10 + i as u8);
    kinet_linux::cni::wire_pod(node, pod, &cali, pod_ip).unwrap();
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "the wiring benchmark must run as root (it creates namespaces)"
    );
    let (mut created, mut wired, mut deleted) = (Vec::new(), Vec::new(), Vec::new());
    for r in 0..RUNS {
        let mut run = Run::new(r);
        let t = Instant::now();
        let node = run.ns("node");
        let pods: Vec<PathBuf> = (0..PODS).map(|i| run.ns(&format!("pod{i}"))).collect();
        created.push(t.elapsed());
        let t = Instant::now();
        let mut n = Netlink::open(Some(&node)).unwrap();
        for (i, pod) in pods.iter().enumerate() {
            wire(&mut n, &node, pod, i);
        }
        wired.push(t.elapsed());
        let routes = n.routes().unwrap().len();
        assert_eq!(routes, PODS, "one /32 route per pod in the node");
        drop(n);
        let t = Instant::now();
        drop(run);
        deleted.push(t.elapsed());
    }
    let per_pod = |d: Duration| d / PODS as u32;
    let (c, w, d) = (median(created), median(wired), median(deleted));
    println!("{PODS} pods, median of {RUNS} runs:");
    println!(
        "  create {PODS} + 1 namespaces: {c:.2?} ({:.2?} per namespace)",
        per_pod(c)
    );
    println!(
        "  wire {PODS} pods (veth, proxy ARP, routes, addresses): {w:.2?} ({:.2?} per pod)",
        per_pod(w)
    );
    println!("  delete the namespaces: {d:.2?}");
}
