//! `kinet dns` on real sockets (127.0.0.1, free ports, no lab): a fixed
//! cluster view queried with dig over UDP and TCP, forwarding to a second
//! in-process server, truncation and the TCP retry, the HTTP endpoints, and
//! reload on a Corefile change.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures::future::BoxFuture;
use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{RData, Record, RecordType};
use k8s_openapi::api::core::v1::Service;
use kinet_dns::cluster::ClusterView;
use kinet_dns::run::{Options, Runtime};
use kinet_dns::server::{self, Handler, Request};
use kinet_model::lab::{CLUSTER_DOMAIN, KUBERNETES_SERVICE_IP};

fn free_port() -> u16 {
    loop {
        let u = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let p = u.local_addr().unwrap().port();
        if std::net::TcpListener::bind(("127.0.0.1", p)).is_ok() {
            return p;
        }
    }
}

/// The "internet" the forward plugin reaches: example.com, a name with 100
/// addresses, NXDOMAIN for the rest; counts the queries it gets.
struct Upstream {
    queries: AtomicUsize,
}

impl Handler for Upstream {
    fn handle(&self, req: Request) -> BoxFuture<'_, Option<Message>> {
        Box::pin(async move {
            self.queries.fetch_add(1, Ordering::SeqCst);
            let mut m = req.reply();
            m.set_recursion_available(true);
            let owner = req.msg.queries()[0].name().clone();
            let n = match req.name().as_str() {
                "example.com." => 1,
                "big.example." => 100,
                _ => 0,
            };
            if n == 0 || req.qtype() != RecordType::A {
                m.set_response_code(ResponseCode::NXDomain);
            }
            for i in 0..n {
                m.add_answer(Record::from_rdata(
                    owner.clone(),
                    300,
                    RData::A(A(Ipv4Addr::new(192, 0, 2, 10 + i))),
                ));
            }
            Some(m)
        })
    }
}

async fn upstream() -> (SocketAddr, Arc<Upstream>) {
    let u = Arc::new(Upstream {
        queries: AtomicUsize::new(0),
    });
    let (addr, _tasks) = server::listen("127.0.0.1:0".parse().unwrap(), u.clone())
        .await
        .unwrap();
    (addr, u)
}

fn services() -> Vec<Service> {
    serde_json::from_value(serde_json::json!([
        {"metadata": {"name": "kubernetes", "namespace": "default"},
         "spec": {"clusterIP": KUBERNETES_SERVICE_IP.to_string(),
                  "clusterIPs": [KUBERNETES_SERVICE_IP.to_string()],
                  "ports": [{"name": "https", "port": 443, "protocol": "TCP"}]}}
    ]))
    .unwrap()
}

/// dig's output with runs of blanks as one space.
fn squeeze(s: &str) -> String {
    s.lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect::<Vec<_>>()
        .join("\n")
}

async fn dig(port: u16, args: &str) -> String {
    let out = tokio::process::Command::new("dig")
        .arg("@127.0.0.1")
        .arg("-p")
        .arg(port.to_string())
        .args(["+time=2", "+tries=1"])
        .args(args.split_whitespace())
        .output()
        .await
        .expect("dig runs");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

async fn http_get(addr: &str, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut c = tokio::net::TcpStream::connect(addr).await.unwrap();
    c.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut s = String::new();
    c.read_to_string(&mut s).await.unwrap();
    s
}

async fn start(corefile: &str, dir: &tempdir::Dir) -> Arc<Runtime> {
    let conf = dir.path.join("Corefile");
    std::fs::write(&conf, corefile).unwrap();
    Runtime::start(Options {
        conf,
        listen_ip: Ipv4Addr::LOCALHOST.into(),
        view: Some(ClusterView::fixed(services(), vec![], vec![])),
        quiet: true,
        ..Options::default()
    })
    .await
    .unwrap()
}

mod tempdir {
    pub struct Dir {
        pub path: std::path::PathBuf,
    }
    impl Dir {
        pub fn new(tag: &str) -> Dir {
            let path = std::env::temp_dir().join(format!(
                "kinet-dns-{tag}-{}-{}",
                std::process::id(),
                rand_suffix()
            ));
            std::fs::create_dir_all(&path).unwrap();
            Dir { path }
        }
    }
    fn rand_suffix() -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0)
    }
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_names_forwarding_cache_and_endpoints() {
    let (up, upstream) = upstream().await;
    let (port, ready, health, metrics) = (free_port(), free_port(), free_port(), free_port());
    let dir = tempdir::Dir::new("serve");
    let corefile = format!(
        ".:{port} {{
    errors
    health 127.0.0.1:{health} {{
      lameduck 1s
    }}
    ready 127.0.0.1:{ready}
    log . {{
      class all
    }}
    kubernetes {CLUSTER_DOMAIN} in-addr.arpa ip6.arpa {{
      pods insecure
      fallthrough in-addr.arpa ip6.arpa
    }}
    prometheus 127.0.0.1:{metrics}
    forward . {up}
    cache 30
    loop
    loadbalance
}}
"
    );
    let _rt = start(&corefile, &dir).await;
    let kube = KUBERNETES_SERVICE_IP.to_string();
    let name = format!("kubernetes.default.svc.{CLUSTER_DOMAIN}");

    // A cluster name, over UDP and TCP, case preserved.
    assert_eq!(dig(port, &format!("+short {name}")).await.trim(), kube);
    assert_eq!(dig(port, &format!("+short +tcp {name}")).await.trim(), kube);
    let full = squeeze(&dig(port, &format!("Kubernetes.Default.svc.{CLUSTER_DOMAIN} A")).await);
    assert!(full.contains("status: NOERROR"), "{full}");
    assert!(full.contains("flags: qr aa rd;"), "{full}");
    assert!(
        full.contains(&format!(
            "Kubernetes.Default.svc.{CLUSTER_DOMAIN}. 5 IN A {kube}"
        )),
        "{full}"
    );
    assert!(
        full.contains(&format!("SERVER: 127.0.0.1#{port}(127.0.0.1)")),
        "{full}"
    );
    // NXDOMAIN with the zone's SOA.
    let nx = squeeze(&dig(port, &format!("nope.default.svc.{CLUSTER_DOMAIN}")).await);
    assert!(nx.contains("status: NXDOMAIN"), "{nx}");
    assert!(
        nx.contains(&format!(
            "{CLUSTER_DOMAIN}. 5 IN SOA ns.dns.{CLUSTER_DOMAIN}. hostmaster.{CLUSTER_DOMAIN}."
        )),
        "{nx}"
    );
    // PTR for the ClusterIP.
    assert_eq!(
        dig(port, &format!("+short -x {kube}")).await.trim(),
        format!("{name}.")
    );
    // SRV for a named port.
    let srv = dig(port, &format!("+short SRV _https._tcp.{name}")).await;
    assert_eq!(srv.trim(), format!("0 100 443 {name}."));

    // Outside the cluster: forwarded, then cached.
    assert_eq!(dig(port, "+short example.com").await.trim(), "192.0.2.10");
    let before = upstream.queries.load(Ordering::SeqCst);
    let again = dig(port, "example.com").await;
    assert!(again.contains("192.0.2.10"), "{again}");
    assert_eq!(
        upstream.queries.load(Ordering::SeqCst),
        before,
        "answered from the cache"
    );
    let ttl: u32 = again
        .lines()
        .find(|l| l.starts_with("example.com."))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|t| t.parse().ok())
        .unwrap();
    assert!(ttl <= 30, "the cache caps TTLs at 30: {again}");
    let nx = dig(port, "nothing.example.org").await;
    assert!(nx.contains("status: NXDOMAIN"), "{nx}");

    // Too big for UDP: TC over UDP, everything over TCP (dig retries itself).
    let tc = dig(port, "+ignore +noedns big.example").await;
    assert!(tc.contains(" tc"), "{tc}");
    let all = dig(port, "+short big.example").await;
    assert_eq!(all.lines().count(), 100, "{all}");

    // Malformed input gets FORMERR, never a stuck server.
    let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    sock.send_to(
        &[0xab, 0xcd, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0x3f, b'x'],
        ("127.0.0.1", port),
    )
    .await
    .unwrap();
    let mut buf = [0u8; 512];
    let (n, _) = tokio::time::timeout(Duration::from_secs(2), sock.recv_from(&mut buf))
        .await
        .unwrap()
        .unwrap();
    let r = Message::from_vec(&buf[..n]).unwrap();
    assert_eq!((r.id(), r.response_code()), (0xabcd, ResponseCode::FormErr));
    assert_eq!(dig(port, &format!("+short {name}")).await.trim(), kube);

    // health, ready, metrics.
    let h = http_get(&format!("127.0.0.1:{health}"), "/health").await;
    assert!(h.starts_with("HTTP/1.1 200 OK") && h.ends_with("OK"), "{h}");
    let r = http_get(&format!("127.0.0.1:{ready}"), "/ready").await;
    assert!(r.starts_with("HTTP/1.1 200 OK"), "{r}");
    let m = http_get(&format!("127.0.0.1:{metrics}"), "/metrics").await;
    for metric in [
        "coredns_build_info{",
        "coredns_dns_requests_total{",
        "coredns_dns_responses_total{",
        "coredns_dns_request_duration_seconds_bucket{",
        "coredns_cache_hits_total{",
        "coredns_cache_misses_total{",
        "coredns_forward_requests_total{",
        "coredns_proxy_request_duration_seconds_bucket{",
    ] {
        assert!(m.contains(metric), "{metric} missing:\n{m}");
    }
    assert!(m.contains(&format!("server=\"dns://:{port}\"")), "{m}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_applies_a_changed_corefile_and_keeps_the_old_one_on_error() {
    let port = free_port();
    let dir = tempdir::Dir::new("reload");
    let corefile = |ip: &str, extra: &str| {
        format!(
            ".:{port} {{
    reload 2s 1s
    hosts {{
      {ip} web.example
    }}
    {extra}
}}
"
        )
    };
    let rt = start(&corefile("192.0.2.1", ""), &dir).await;
    assert_eq!(dig(port, "+short web.example").await.trim(), "192.0.2.1");
    std::fs::write(dir.path.join("Corefile"), corefile("192.0.2.2", "")).unwrap();
    let mut got = String::new();
    for _ in 0..40 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        got = dig(port, "+short web.example").await;
        if got.trim() == "192.0.2.2" {
            break;
        }
    }
    assert_eq!(
        got.trim(),
        "192.0.2.2",
        "the reload plugin applied the new Corefile"
    );
    // A broken Corefile: logged, the running one stays.
    std::fs::write(dir.path.join("Corefile"), corefile("192.0.2.3", "nonsense")).unwrap();
    let err = rt.reload_once().await.unwrap_err();
    assert!(err.contains("Unknown directive 'nonsense'"), "{err}");
    assert_eq!(dig(port, "+short web.example").await.trim(), "192.0.2.2");
    // The same broken file is not retried.
    assert_eq!(rt.reload_once().await, Ok(false));
}

#[tokio::test]
async fn configuration_errors_have_coredns_wording() {
    let dir = tempdir::Dir::new("bad");
    let conf = dir.path.join("Corefile");
    std::fs::write(&conf, ".:53 {\n    foo\n}\n").unwrap();
    let err = match Runtime::start(Options {
        conf: conf.clone(),
        view: Some(ClusterView::fixed(vec![], vec![], vec![])),
        quiet: true,
        ..Options::default()
    })
    .await
    {
        Err(e) => e,
        Ok(_) => panic!("started with an unknown directive"),
    };
    assert_eq!(
        err,
        "Corefile:2 - Error during parsing: Unknown directive 'foo'"
    );
    let missing = dir.path.join("nope");
    let err = match Runtime::start(Options {
        conf: missing.clone(),
        ..Options::default()
    })
    .await
    {
        Err(e) => e,
        Ok(_) => panic!("started without a Corefile"),
    };
    assert_eq!(
        err,
        format!("open {}: no such file or directory", missing.display())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forward_fails_over_to_the_next_upstream() {
    let (up, upstream) = upstream().await;
    // Nothing listens there: the kernel answers port unreachable.
    let dead = free_port();
    let port = free_port();
    let dir = tempdir::Dir::new("failover");
    let corefile = format!(
        ".:{port} {{
    errors
    forward . 127.0.0.1:{dead} {up} {{
      policy sequential
      max_fails 1
      health_check 200ms
    }}
}}
"
    );
    let _rt = start(&corefile, &dir).await;
    for _ in 0..3 {
        assert_eq!(dig(port, "+short example.com").await.trim(), "192.0.2.10");
    }
    assert!(upstream.queries.load(Ordering::SeqCst) >= 3);
    // TCP clients are forwarded over TCP.
    assert_eq!(
        dig(port, "+tcp +short example.com").await.trim(),
        "192.0.2.10"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dns_port_flag_sets_the_port_of_keys_without_one() {
    let port = free_port();
    let dir = tempdir::Dir::new("port");
    let conf = dir.path.join("Corefile");
    std::fs::write(
        &conf,
        ". {\n    hosts {\n      192.0.2.5 p.example\n    }\n}\n",
    )
    .unwrap();
    let rt = Runtime::start(Options {
        conf,
        port: Some(port),
        listen_ip: Ipv4Addr::LOCALHOST.into(),
        view: Some(ClusterView::fixed(vec![], vec![], vec![])),
        quiet: true,
    })
    .await
    .unwrap();
    assert_eq!(rt.bound(port).map(|a| a.port()), Some(port));
    assert_eq!(dig(port, "+short p.example").await.trim(), "192.0.2.5");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_queries_on_one_tcp_connection() {
    use hickory_proto::op::Query;
    use hickory_proto::rr::Name;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (up, _u) = upstream().await;
    let mut c = tokio::net::TcpStream::connect(up).await.unwrap();
    let mut framed = Vec::new();
    for id in [1u16, 2, 3] {
        let mut q = Message::new();
        q.set_id(id);
        q.add_query(Query::query(
            Name::from_ascii("example.com.").unwrap(),
            RecordType::A,
        ));
        let b = q.to_vec().unwrap();
        framed.extend_from_slice(&(b.len() as u16).to_be_bytes());
        framed.extend_from_slice(&b);
    }
    // All three written at once, answered in order on the same connection.
    c.write_all(&framed).await.unwrap();
    for id in [1u16, 2, 3] {
        let mut len = [0u8; 2];
        c.read_exact(&mut len).await.unwrap();
        let mut buf = vec![0u8; u16::from_be_bytes(len) as usize];
        c.read_exact(&mut buf).await.unwrap();
        let m = Message::from_vec(&buf).unwrap();
        assert_eq!(m.id(), id);
        assert_eq!(m.answers().len(), 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_moves_the_listener_to_a_new_port() {
    let (a, b) = (free_port(), free_port());
    let dir = tempdir::Dir::new("move");
    let corefile =
        |port: u16| format!(".:{port} {{\n    hosts {{\n      192.0.2.4 m.example\n    }}\n}}\n");
    let rt = start(&corefile(a), &dir).await;
    assert_eq!(dig(a, "+short m.example").await.trim(), "192.0.2.4");
    std::fs::write(dir.path.join("Corefile"), corefile(b)).unwrap();
    assert_eq!(rt.reload_once().await, Ok(true));
    assert_eq!(dig(b, "+short m.example").await.trim(), "192.0.2.4");
    assert!(rt.bound(a).is_none());
    let gone = dig(a, "+short m.example").await;
    assert!(
        gone.contains("timed out") || gone.contains("refused"),
        "{gone}"
    );
}
