//! Kernel tests: real namespaces, links, routes, packets and processes. Run as root.
//!
//! Everything a test creates on the host (namespace files, directories, temp files,
//! processes) carries the prefix `kltest<pid>_<n>` and is removed by a Drop guard, even
//! when the test fails. Addresses are only used inside the tests' own namespaces.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::time::Duration;

use kinet_linux::sandbox::{self, HolderSpec, JoinOptions, Signal};
use kinet_linux::{Netlink, Route, netns, sysctl_get, sysctl_set};

mod common;
use common::joined_output;

fn unique() -> String {
    common::unique("kltest")
}

fn require_root() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "kinet-linux kernel tests must run as root (they create namespaces)"
    );
}

/// Owns everything a test creates; removes it on drop.
struct Lab {
    dir: PathBuf,
    nss: Vec<PathBuf>,
    files: Vec<PathBuf>,
    pids: Vec<u32>,
}

impl Lab {
    fn new() -> Lab {
        require_root();
        let dir = PathBuf::from("/run").join(unique());
        Lab {
            dir,
            nss: Vec::new(),
            files: Vec::new(),
            pids: Vec::new(),
        }
    }

    /// Create a namespace under this lab's directory.
    fn ns(&mut self, name: &str) -> PathBuf {
        let p = self.dir.join(name);
        self.nss.push(p.clone());
        netns::create(&p).unwrap_or_else(|e| panic!("create {}: {e}", p.display()));
        p
    }

    /// Register a namespace created elsewhere (e.g. in /run/netns) for cleanup.
    fn adopt_ns(&mut self, p: &Path) {
        self.nss.push(p.to_path_buf());
    }

    fn temp_file(&mut self, contents: &str) -> PathBuf {
        let p = std::env::temp_dir().join(format!("{}.txt", unique()));
        self.files.push(p.clone());
        std::fs::write(&p, contents).unwrap();
        p
    }

    fn holder(&mut self, spec: &HolderSpec) -> u32 {
        let pid = sandbox::spawn_holder(spec).expect("spawn_holder");
        self.pids.push(pid);
        pid
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for pid in &self.pids {
            let _ = sandbox::kill(*pid, Signal::Kill);
        }
        for ns in &self.nss {
            if let Err(e) = netns::delete(ns) {
                eprintln!("cleanup: {e}");
            }
        }
        for f in &self.files {
            let _ = std::fs::remove_file(f);
        }
        let _ = std::fs::remove_dir(&self.dir);
    }
}

fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

/// A stand-in for a dummy device (this kernel may lack the dummy module): a veth pair
/// `name` <-> `name`+"p" inside the same namespace, both up.
fn fake_dev(nl: &mut Netlink, name: &str) {
    nl.veth_add(name, &format!("{name}p"), None).unwrap();
    nl.link_set_up(name).unwrap();
    nl.link_set_up(&format!("{name}p")).unwrap();
}

fn proc_ns_inode(pid: u32, kind: &str) -> u64 {
    netns::inode(Path::new(&format!("/proc/{pid}/ns/{kind}"))).unwrap()
}

fn thread_netns_inode() -> anyhow::Result<u64> {
    Ok(netns::inode(Path::new("/proc/thread-self/ns/net"))?)
}

// ---------------------------------------------------------------- namespaces

#[test]
fn netns_create_exists_delete_run_in() {
    let mut lab = Lab::new();
    let a = lab.ns("a");
    assert!(netns::exists(&a));
    assert!(!netns::exists(&lab.dir.join("nope")));
    // Creating it again is an error (EEXIST), and leaves the namespace alone.
    let err = netns::create(&a).unwrap_err();
    assert!(err.is_exists(), "{err}");
    assert!(netns::exists(&a));

    // run_in really runs inside the namespace, and the caller's thread does not move.
    let before = thread_netns_inode().unwrap();
    let inside = netns::run_in(&a, thread_netns_inode).unwrap();
    assert_eq!(inside, netns::inode(&a).unwrap());
    assert_ne!(inside, before);
    assert_eq!(thread_netns_inode().unwrap(), before);
    // Errors from the closure come back.
    let e = netns::run_in(&a, || -> anyhow::Result<()> { anyhow::bail!("boom") }).unwrap_err();
    assert!(e.to_string().contains("boom"));
    // A path that is not a namespace is refused.
    assert!(netns::run_in(Path::new("/etc/hostname"), || Ok(())).is_err());

    // A fresh namespace has only lo, down.
    let links = Netlink::open(Some(&a)).unwrap().links().unwrap();
    assert_eq!(links.len(), 1, "{links:?}");
    assert_eq!(links[0].name, "lo");
    assert!(!links[0].up);

    netns::delete(&a).unwrap();
    assert!(!netns::exists(&a));
    assert!(!a.exists());
    netns::delete(&a).unwrap(); // idempotent

    // A leftover plain file (interrupted create) is reused.
    std::fs::write(&a, b"").unwrap();
    netns::create(&a).unwrap();
    assert!(netns::exists(&a));
}

#[test]
fn netns_in_run_netns_works_with_iproute2() {
    let mut lab = Lab::new();
    let name = unique();
    let path = Path::new("/run/netns").join(&name);
    lab.adopt_ns(&path);
    netns::create(&path).unwrap();
    let out = std::process::Command::new("ip")
        .args(["netns", "exec", &name, "cat", "/proc/net/dev"])
        .output()
        .expect("run ip");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dev = String::from_utf8_lossy(&out.stdout);
    assert!(dev.contains("lo:"), "{dev}");
    // Only lo: it really is the new namespace, not the host's.
    assert_eq!(dev.lines().count(), 3, "{dev}");
    netns::delete(&path).unwrap();
    let list = std::process::Command::new("ip")
        .args(["netns", "list"])
        .output()
        .unwrap();
    assert!(
        list.status.success(),
        "ip netns list: {}",
        String::from_utf8_lossy(&list.stderr)
    );
    assert!(!String::from_utf8_lossy(&list.stdout).contains(&name));
}

// ---------------------------------------------------------------- links and addresses

#[test]
fn links_bridge_veth_mac_rename_netns_del() {
    let mut lab = Lab::new();
    let x = lab.ns("x");
    let y = lab.ns("y");
    let mut nx = Netlink::open(Some(&x)).unwrap();
    let mut ny = Netlink::open(Some(&y)).unwrap();

    assert_eq!(nx.link_index("br0").unwrap(), None);
    nx.bridge_add("br0").unwrap();
    assert!(nx.bridge_add("br0").unwrap_err().is_exists());
    nx.veth_add("v1", "v2", None).unwrap();
    nx.link_set_master("v1", "br0").unwrap();
    nx.link_set_up("br0").unwrap();
    nx.link_set_up("v1").unwrap();
    let mac = [0x02, 0x6b, 0x6c, 0x00, 0x00, 0x01];
    nx.link_set_mac("v2", mac).unwrap();
    nx.link_set_mtu("v2", 1400).unwrap();

    let links = nx.links().unwrap();
    let get = |n: &str| links.iter().find(|l| l.name == n).cloned().unwrap();
    let (br0, v1, v2) = (get("br0"), get("v1"), get("v2"));
    assert_eq!(br0.kind.as_deref(), Some("bridge"));
    assert_eq!(v1.kind.as_deref(), Some("veth"));
    assert_eq!(v1.master, Some(br0.index));
    assert!(v1.up && br0.up && !v2.up);
    assert!(!v1.lower_up, "peer is down, so no carrier");
    assert_eq!(v2.mac, Some(mac));
    assert_eq!(v2.mtu, Some(1400));
    assert_eq!(v1.link, Some(v2.index), "veth peer index");
    assert_eq!(nx.link_index("v2").unwrap(), Some(v2.index));

    nx.link_rename("v2", "v2x").unwrap();
    assert_eq!(nx.link_index("v2").unwrap(), None);
    assert_eq!(nx.link_index("v2x").unwrap(), Some(v2.index));

    nx.link_set_netns("v2x", &y).unwrap();
    assert_eq!(nx.link_index("v2x").unwrap(), None);
    let moved = ny.links().unwrap();
    let v2y = moved.iter().find(|l| l.name == "v2x").expect("moved link");
    assert_eq!(v2y.mac, Some(mac));

    ny.link_set_up("v2x").unwrap();
    assert!(
        nx.links()
            .unwrap()
            .iter()
            .any(|l| l.name == "v1" && l.lower_up)
    );

    nx.link_set_nomaster("v1").unwrap();
    assert_eq!(
        nx.links()
            .unwrap()
            .iter()
            .find(|l| l.name == "v1")
            .unwrap()
            .master,
        None
    );

    // Deleting one end of a veth deletes both.
    assert!(nx.link_del("v1").unwrap());
    assert!(!nx.link_del("v1").unwrap());
    assert_eq!(ny.link_index("v2x").unwrap(), None);
    // Errors name the operation and carry the errno.
    let e = nx.link_set_up("nope0").unwrap_err();
    assert_eq!(e.errno(), Some(libc::ENODEV), "{e}");
    assert!(e.to_string().contains("nope0"), "{e}");
    assert!(nx.link_set_up("bad/name").is_err());
}

#[test]
fn addresses_are_idempotent() {
    let mut lab = Lab::new();
    let x = lab.ns("x");
    let mut nx = Netlink::open(Some(&x)).unwrap();
    fake_dev(&mut nx, "d0");
    let idx = nx.link_index("d0").unwrap().unwrap();
    let a: IpAddr = "10.20.30.40".parse().unwrap();
    nx.addr_add("d0", a, 24).unwrap();
    nx.addr_add("d0", a, 24).unwrap();
    let v6: IpAddr = "fd00::1".parse().unwrap();
    nx.addr_add("d0", v6, 64).unwrap();
    let addrs = nx.addrs().unwrap();
    assert!(
        addrs
            .iter()
            .any(|x| x.index == idx && x.addr == a && x.prefix == 24),
        "{addrs:?}"
    );
    assert!(addrs.iter().any(|x| x.addr == v6 && x.prefix == 64));
    assert!(nx.addr_del("d0", a, 24).unwrap());
    assert!(!nx.addr_del("d0", a, 24).unwrap());
    assert!(!nx.addrs().unwrap().iter().any(|x| x.addr == a));
    assert!(nx.addr_add("nodev0", a, 24).unwrap_err().is_not_found());
    assert!(nx.addr_add("d0", a, 33).is_err());
}

#[test]
fn routes_replace_list_delete() {
    let mut lab = Lab::new();
    let x = lab.ns("x");
    let mut nx = Netlink::open(Some(&x)).unwrap();
    fake_dev(&mut nx, "d0");
    nx.addr_add("d0", "10.5.0.1".parse().unwrap(), 24).unwrap();

    let r = Route::new(ip("10.6.0.0"), 16)
        .via(ip("10.5.0.254"))
        .dev("d0");
    nx.route_replace(&r).unwrap();
    nx.route_replace(&r).unwrap(); // idempotent
    let host = Route::new(ip("10.7.0.9"), 32).dev("d0").scope_link();
    nx.route_replace(&host).unwrap();
    let def = Route::default_via(ip("169.254.1.1")).dev("d0").onlink();
    nx.route_replace(&def).unwrap();
    let with_src = Route::new(ip("10.8.0.0"), 24)
        .dev("d0")
        .scope_link()
        .src(ip("10.5.0.1"));
    nx.route_replace(&with_src).unwrap();

    let routes = nx.routes().unwrap();
    for want in [&r, &host, &def, &with_src] {
        assert!(routes.contains(want), "{want} not in {routes:?}");
    }
    // The kernel's connected route is listed too.
    let connected = Route::new(ip("10.5.0.0"), 24)
        .dev("d0")
        .scope_link()
        .src(ip("10.5.0.1"));
    assert!(routes.contains(&connected), "{routes:?}");

    // Replace changes the gateway in place.
    let r2 = Route::new(ip("10.6.0.0"), 16)
        .via(ip("10.5.0.253"))
        .dev("d0");
    nx.route_replace(&r2).unwrap();
    let routes = nx.routes().unwrap();
    assert!(routes.contains(&r2) && !routes.contains(&r));
    assert_eq!(
        routes
            .iter()
            .filter(|x| x.dst == ip("10.6.0.0") && x.prefix == 16)
            .count(),
        1
    );

    assert!(nx.route_del(&r2).unwrap());
    assert!(!nx.route_del(&r2).unwrap());
    assert!(nx.route_del(&def).unwrap());
    assert!(!nx.routes().unwrap().contains(&def));
    // Deleting by destination alone works, like `ip route del 10.7.0.9`.
    assert!(nx.route_del(&Route::new(ip("10.7.0.9"), 32)).unwrap());
    assert!(
        !nx.route_del(&Route::new(ip("10.9.0.0"), 24).dev("gone0"))
            .unwrap()
    );
    // A gateway that is not reachable is refused (no onlink).
    let bad = Route::new(ip("10.10.0.0"), 16)
        .via(ip("10.99.0.1"))
        .dev("d0");
    let e = nx.route_replace(&bad).unwrap_err();
    assert!(e.errno().is_some(), "{e}");
}

// ---------------------------------------------------------------- packets

#[test]
fn veth_route_sysctl_and_real_packets() {
    let mut lab = Lab::new();
    let a = lab.ns("a");
    let b = lab.ns("b");
    let mut na = Netlink::open(Some(&a)).unwrap();
    let mut nb = Netlink::open(Some(&b)).unwrap();

    na.veth_add("va", "vb", Some(&b)).unwrap();
    assert_eq!(
        na.link_index("vb").unwrap(),
        None,
        "peer must not appear in a"
    );
    assert!(nb.link_index("vb").unwrap().is_some());
    na.addr_add("va", "10.0.0.1".parse().unwrap(), 24).unwrap();
    nb.addr_add("vb", "10.0.0.2".parse().unwrap(), 24).unwrap();
    na.link_set_up("va").unwrap();
    nb.link_set_up("vb").unwrap();
    // A service address in a, reachable from b only through a route.
    fake_dev(&mut na, "svc0");
    na.addr_add("svc0", "10.9.9.1".parse().unwrap(), 32)
        .unwrap();
    nb.route_replace(&Route::new(ip("10.9.9.0"), 24).via(ip("10.0.0.1")).dev("vb"))
        .unwrap();

    // Sysctls are per namespace.
    assert_eq!(sysctl_get(&a, "net/ipv4/conf/va/proxy_arp").unwrap(), "0");
    sysctl_set(&a, "net/ipv4/conf/va/proxy_arp", "1").unwrap();
    assert_eq!(sysctl_get(&a, "net/ipv4/conf/va/proxy_arp").unwrap(), "1");
    assert!(sysctl_get(&b, "net/ipv4/conf/va/proxy_arp").is_err());
    let host_fwd = std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap();
    let a_fwd = sysctl_get(&a, "net/ipv4/ip_forward").unwrap();
    sysctl_set(
        &a,
        "net/ipv4/ip_forward",
        if a_fwd == "1" { "0" } else { "1" },
    )
    .unwrap();
    assert_ne!(sysctl_get(&a, "net/ipv4/ip_forward").unwrap(), a_fwd);
    assert_eq!(
        std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap(),
        host_fwd
    );
    assert!(sysctl_set(&a, "../etc/passwd", "x").is_err());

    // TCP over the route: listener in a, client in b.
    let listener = netns::run_in(&a, || Ok(TcpListener::bind("10.9.9.1:0")?)).unwrap();
    let addr = listener.local_addr().unwrap();
    let server = std::thread::spawn(move || -> std::io::Result<SocketAddr> {
        let (mut s, peer) = listener.accept()?;
        let mut buf = [0u8; 5];
        s.read_exact(&mut buf)?;
        assert_eq!(&buf, b"hello");
        s.write_all(b"world")?;
        Ok(peer)
    });
    let reply = netns::run_in(&b, move || {
        let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
        s.set_read_timeout(Some(Duration::from_secs(5)))?;
        s.write_all(b"hello")?;
        let mut buf = [0u8; 5];
        s.read_exact(&mut buf)?;
        Ok(buf)
    })
    .unwrap();
    assert_eq!(&reply, b"world");
    let peer = server.join().unwrap().unwrap();
    assert_eq!(peer.ip(), IpAddr::V4(ip("10.0.0.2")));

    // UDP on the link subnet.
    let rx = netns::run_in(&a, || {
        let s = UdpSocket::bind("10.0.0.1:0")?;
        s.set_read_timeout(Some(Duration::from_secs(5)))?;
        Ok(s)
    })
    .unwrap();
    let to = rx.local_addr().unwrap();
    netns::run_in(&b, move || {
        UdpSocket::bind("10.0.0.2:0")?.send_to(b"ping", to)?;
        Ok(())
    })
    .unwrap();
    let mut buf = [0u8; 16];
    let (n, from) = rx.recv_from(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"ping");
    assert_eq!(from.ip(), IpAddr::V4(ip("10.0.0.2")));

    // Without the route, b cannot reach the service address.
    assert!(nb.route_del(&Route::new(ip("10.9.9.0"), 24)).unwrap());
    let unreachable = netns::run_in(&b, move || {
        Ok(TcpStream::connect_timeout(&addr, Duration::from_millis(500)).is_err())
    })
    .unwrap();
    assert!(unreachable);
}

#[test]
fn calico_style_pod_wiring() {
    let mut lab = Lab::new();
    let node = lab.ns("node");
    let pod = lab.ns("pod");
    let mut n = Netlink::open(Some(&node)).unwrap();

    // Proxy ARP only answers on interfaces that forward: nodes are routers.
    sysctl_set(&node, "net/ipv4/ip_forward", "1").unwrap();
    // The node: its LAN interface with the node IP and a default route to the router.
    fake_dev(&mut n, "eth0");
    n.addr_add("eth0", "192.168.1.10".parse().unwrap(), 24)
        .unwrap();
    n.route_replace(&Route::default_via(ip("192.168.1.1")).dev("eth0"))
        .unwrap();

    // The pod's veth: node end cali…, pod end eth0 created directly in the pod.
    let cali = "cali0123456789a";
    kinet_linux::cni::wire_pod(&node, &pod, cali, ip("10.1.1.5")).unwrap();

    let mut p = Netlink::open(Some(&pod)).unwrap();
    let routes = p.routes().unwrap();
    assert!(
        routes.contains(&Route::default_via(ip("169.254.1.1")).dev("eth0").onlink()),
        "{routes:?}"
    );
    let pod_eth0 = p
        .links()
        .unwrap()
        .into_iter()
        .find(|l| l.name == "eth0")
        .unwrap();
    assert_eq!(pod_eth0.kind.as_deref(), Some("veth"));
    assert_eq!(pod_eth0.mtu, Some(kinet_linux::cni::DEFAULT_MTU));
    assert_eq!(
        sysctl_get(&node, &format!("net/ipv4/conf/{cali}/proxy_arp")).unwrap(),
        "1"
    );

    // The pod opens a TCP connection to the node's address.
    let listener = netns::run_in(&node, || Ok(TcpListener::bind("192.168.1.10:0")?)).unwrap();
    let addr = listener.local_addr().unwrap();
    let server = std::thread::spawn(move || -> std::io::Result<SocketAddr> {
        let (mut s, peer) = listener.accept()?;
        s.write_all(b"node")?;
        Ok(peer)
    });
    let got = netns::run_in(&pod, move || {
        let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
        s.set_read_timeout(Some(Duration::from_secs(5)))?;
        let mut buf = Vec::new();
        s.read_to_end(&mut buf)?;
        Ok(buf)
    })
    .unwrap();
    assert_eq!(got, b"node");
    assert_eq!(
        server.join().unwrap().unwrap().ip(),
        IpAddr::V4(ip("10.1.1.5"))
    );
}

// ---------------------------------------------------------------- sandboxes

/// Field `n` (1-based, as in proc(5)) of /proc/PID/stat.
fn stat_field(pid: u32, n: usize) -> String {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let rest = &s[s.rfind(')').unwrap() + 2..];
    rest.split(' ').nth(n - 3).unwrap().to_string()
}

#[test]
fn holder_hostname_binds_lo_and_join() {
    let mut lab = Lab::new();
    let contents = format!("127.0.0.1 localhost\n10.1.1.5 {}\n", unique());
    let hosts = lab.temp_file(&contents);
    let pid = lab.holder(&HolderSpec {
        hostname: "kltest-pod".into(),
        binds: vec![(hosts.clone(), PathBuf::from("/etc/hosts"))],
        argv: vec!["sleep".into(), "infinity".into()],
        netns: None,
        tmpfs: vec![],
        read_only: false,
    });
    assert!(sandbox::is_alive(pid));
    let me = std::process::id();
    for kind in ["net", "uts", "ipc", "mnt"] {
        assert_ne!(proc_ns_inode(pid, kind), proc_ns_inode(me, kind), "{kind}");
    }
    // Double-forked: not our child; own session; stdio on /dev/null.
    assert_ne!(stat_field(pid, 4), me.to_string(), "ppid");
    assert_eq!(stat_field(pid, 6), pid.to_string(), "session id");
    for fd in 0..3 {
        assert_eq!(
            std::fs::read_link(format!("/proc/{pid}/fd/{fd}")).unwrap(),
            Path::new("/dev/null")
        );
    }

    assert_eq!(joined_output(pid, &["hostname"], None).trim(), "kltest-pod");
    assert_ne!(nix::unistd::gethostname().unwrap(), "kltest-pod");
    assert_eq!(joined_output(pid, &["cat", "/etc/hosts"], None), contents);
    assert_ne!(std::fs::read_to_string("/etc/hosts").unwrap(), contents);
    assert_eq!(joined_output(pid, &["pwd"], None).trim(), "/");
    assert_eq!(
        joined_output(pid, &["pwd"], Some(Path::new("/tmp"))).trim(),
        "/tmp"
    );
    // The joined process is in the pod's network namespace: only lo, and it is up.
    let dev = joined_output(pid, &["cat", "/proc/net/dev"], None);
    assert_eq!(dev.lines().count(), 3, "{dev}");
    let ns = PathBuf::from(format!("/proc/{pid}/ns/net"));
    let links = Netlink::open(Some(&ns)).unwrap().links().unwrap();
    assert!(links.iter().any(|l| l.name == "lo" && l.up), "{links:?}");

    // setsid option: the joined command leads its own session.
    let mut cmd = std::process::Command::new("sh");
    cmd.args(["-c", "cut -d' ' -f6 /proc/self/stat; echo $$"]);
    sandbox::join_std_with(
        &mut cmd,
        pid,
        &JoinOptions {
            workdir: None,
            setsid: true,
            mounts: None,
        },
    )
    .unwrap();
    let out = String::from_utf8(cmd.output().unwrap().stdout).unwrap();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert_eq!(lines[0], lines[1], "session id == sh's pid");

    assert!(sandbox::terminate(pid, Duration::from_secs(5)).unwrap());
    assert!(!sandbox::is_alive(pid));
    sandbox::kill(pid, Signal::Term).unwrap(); // gone is Ok
}

#[test]
fn holder_join_with_tokio() {
    let mut lab = Lab::new();
    let contents = format!("nameserver 10.152.183.10\nsearch {}\n", unique());
    let resolv = lab.temp_file(&contents);
    let pid = lab.holder(&HolderSpec {
        hostname: "kltest-tokio".into(),
        binds: vec![(resolv, PathBuf::from("/etc/resolv.conf"))],
        argv: vec!["sleep".into(), "infinity".into()],
        netns: None,
        tmpfs: vec![],
        read_only: false,
    });
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let out = rt.block_on(async move {
        let mut cmd = tokio::process::Command::new("cat");
        cmd.arg("/etc/resolv.conf");
        sandbox::join(&mut cmd, pid, None).unwrap();
        cmd.output().await.unwrap()
    });
    assert!(out.status.success());
    assert_eq!(String::from_utf8(out.stdout).unwrap(), contents);
}

#[test]
fn holder_host_network_joins_existing_netns() {
    let mut lab = Lab::new();
    let node = lab.ns("node");
    let pid = lab.holder(&HolderSpec {
        hostname: "kltest-node".into(),
        binds: vec![],
        argv: vec!["sleep".into(), "infinity".into()],
        netns: Some(node.clone()),
        tmpfs: vec![],
        read_only: false,
    });
    assert_eq!(proc_ns_inode(pid, "net"), netns::inode(&node).unwrap());
    assert_ne!(
        proc_ns_inode(pid, "uts"),
        proc_ns_inode(std::process::id(), "uts")
    );
    assert_eq!(
        joined_output(pid, &["hostname"], None).trim(),
        "kltest-node"
    );
}

#[test]
fn holder_errors_are_reported() {
    let mut lab = Lab::new();
    let spec = |argv: &[&str], binds: Vec<(PathBuf, PathBuf)>| HolderSpec {
        hostname: "kltest-bad".into(),
        binds,
        argv: argv.iter().map(|s| s.to_string()).collect(),
        netns: None,
        tmpfs: vec![],
        read_only: false,
    };
    let e = sandbox::spawn_holder(&spec(&["kltest-no-such-command"], vec![])).unwrap_err();
    assert!(e.to_string().contains("not found"), "{e}");
    let e = sandbox::spawn_holder(&spec(&["/proc/self/fd"], vec![])).unwrap_err();
    assert!(e.to_string().contains("exec"), "{e}");
    let src = lab.temp_file("x");
    let missing = PathBuf::from(format!("/etc/{}", unique()));
    let e =
        sandbox::spawn_holder(&spec(&["sleep", "1"], vec![(src, missing.clone())])).unwrap_err();
    assert!(e.to_string().contains("bind target"), "{e}");
    assert!(!missing.exists(), "nothing is created on the host side");
    let not_ns = lab.temp_file("not a namespace");
    let e = sandbox::spawn_holder(&HolderSpec {
        netns: Some(not_ns),
        ..spec(&["sleep", "1"], vec![])
    })
    .unwrap_err();
    assert!(e.to_string().contains("setns"), "{e}");
    assert!(sandbox::spawn_holder(&spec(&[], vec![])).is_err());

    assert!(sandbox::kill(0, Signal::Term).is_err());
    assert!(sandbox::kill(u32::MAX, Signal::Term).is_err());
    assert!(!sandbox::is_alive(0));
    let mut cmd = std::process::Command::new("true");
    assert!(sandbox::join_std(&mut cmd, i32::MAX as u32, None).is_err());
}

// ---------------------------------------------------------------- nftables

#[test]
fn nft_apply_in_namespace() {
    assert!(
        kinet_linux::nft_available(),
        "nft is not in PATH: kinet needs it (the set-up installs the nftables package)"
    );
    let mut lab = Lab::new();
    let x = lab.ns("x");
    let table = unique();
    let ruleset = format!(
        "table ip {table} {{\n  chain input {{\n    type filter hook input priority 0; policy accept;\n    tcp dport 9 drop\n  }}\n}}\n"
    );
    kinet_linux::nft_apply(&x, &ruleset).unwrap();
    let listed = kinet_linux::nft_run(&x, &["list", "ruleset"], None).unwrap();
    assert!(listed.contains(&format!("table ip {table}")), "{listed}");
    assert!(listed.contains("tcp dport 9 drop"), "{listed}");
    let host =
        kinet_linux::nft_run(Path::new("/proc/self/ns/net"), &["list", "tables"], None).unwrap();
    assert!(
        !host.contains(&table),
        "the host must not see the lab's table"
    );

    // A bad ruleset fails atomically, with nft's message.
    let bad = format!("flush table ip {table}\ntable ip {table} {{ chain c {{ bogus }} }}\n");
    let e = kinet_linux::nft_apply(&x, &bad).unwrap_err().to_string();
    assert!(e.contains("Error"), "{e}");
    let listed = kinet_linux::nft_run(&x, &["list", "ruleset"], None).unwrap();
    assert!(listed.contains("tcp dport 9 drop"), "rolled back: {listed}");
}

// ---------------------------------------------------------------- teardown

/// Deleting a namespace must free it (and the veths in it) even while pod holders, whose
/// mount namespaces were copied from the host's, are running.
#[test]
fn holders_do_not_pin_deleted_namespaces() {
    let mut lab = Lab::new();
    let node = lab.ns("node");
    let pod = lab.ns("pod");
    let mut n = Netlink::open(Some(&node)).unwrap();
    n.veth_add("calipin", "eth0", Some(&pod)).unwrap();
    let _holder = lab.holder(&HolderSpec {
        hostname: "kltest-pin".into(),
        binds: vec![],
        argv: vec!["sleep".into(), "infinity".into()],
        netns: None,
        tmpfs: vec![],
        read_only: false,
    });
    netns::delete(&pod).unwrap();
    // Namespace teardown is asynchronous in the kernel: poll.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while n.link_index("calipin").unwrap().is_some() {
        assert!(
            std::time::Instant::now() < deadline,
            "the pod namespace is still alive: a holder's mount namespace pins it"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
