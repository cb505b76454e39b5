use super::*;

fn no_env(_: &str) -> Option<String> {
    None
}

fn one(text: &str) -> Vec<Plugin> {
    let mut s = load(text, &no_env).unwrap();
    s.remove(0).plugins
}

#[test]
fn microk8s_default() {
    let p = one(crate::MICROK8S_COREFILE);
    assert_eq!(p[0], Plugin::Errors);
    assert_eq!(
        p[1],
        Plugin::Health {
            addr: ":8080".into(),
            lameduck: Some(Duration::from_secs(5))
        }
    );
    assert_eq!(
        p[2],
        Plugin::Ready {
            addr: ":8181".into()
        }
    );
    assert_eq!(
        p[3],
        Plugin::Log(Log {
            names: vec![".".into()],
            format: None,
            classes: vec![LogClass::Error]
        })
    );
    let Plugin::Kubernetes(k) = &p[4] else {
        panic!("{:?}", p[4])
    };
    assert_eq!(k.zones, ["cluster.local.", "in-addr.arpa.", "ip6.arpa."]);
    assert_eq!(k.pods, PodsMode::Insecure);
    assert_eq!(k.ttl, 5);
    assert!(k.falls_through("4.3.2.1.in-addr.arpa"));
    assert!(!k.falls_through("x.cluster.local."));
    assert_eq!(
        p[5],
        Plugin::Prometheus {
            addr: ":9153".into()
        }
    );
    let Plugin::Forward(f) = &p[6] else { panic!() };
    assert_eq!(
        (f.from.as_str(), f.to.as_slice()),
        (".", &["/etc/resolv.conf".to_string()][..])
    );
    assert_eq!((f.policy, f.max_fails), (Policy::Random, 2));
    let Plugin::Cache(c) = &p[7] else { panic!() };
    assert_eq!((c.ttl, c.success.1, c.denial.1), (30, 30, 30));
    assert_eq!(p[8], Plugin::Loop);
    assert_eq!(
        p[9],
        Plugin::Reload {
            interval: Duration::from_secs(30),
            jitter: Duration::from_secs(15)
        }
    );
    assert_eq!(p[10], Plugin::LoadBalance);
}

#[test]
fn kubeadm_default() {
    let p = one(crate::KUBEADM_COREFILE);
    let Plugin::Kubernetes(k) = &p[3] else {
        panic!()
    };
    assert_eq!(k.ttl, 30);
    let Plugin::Forward(f) = &p[5] else { panic!() };
    assert_eq!(f.max_concurrent, Some(1000));
}

#[test]
fn options() {
    let p = one(
        ".:53 {\n forward . 8.8.8.8:53 1.1.1.1 {\n  policy round_robin\n  health_check 1s\n  max_fails 3\n }\n cache 60 {\n  success 5000 120 10\n  denial 100\n  prefetch 10 1m 20%\n  serve_stale 1h verify\n }\n kubernetes cluster.local {\n  pods verified\n  endpoint_pod_names\n  namespaces default kube-system\n  fallthrough\n }\n hosts {\n  192.0.2.1 example.test\n  fallthrough\n }\n rewrite name foo.example.com foo.default.svc.cluster.local\n rewrite stop name suffix .corp. .cluster.local. answer auto\n}\n",
    );
    let Plugin::Forward(f) = &p[0] else { panic!() };
    assert_eq!(f.to, ["8.8.8.8:53", "1.1.1.1"]);
    assert_eq!(
        (f.policy, f.health_check, f.max_fails),
        (Policy::RoundRobin, Duration::from_secs(1), 3)
    );
    let Plugin::Cache(c) = &p[1] else { panic!() };
    assert_eq!(c.success, (5000, 120, 10));
    assert_eq!(c.denial, (100, 60, 5));
    assert_eq!(c.prefetch, Some((10, Duration::from_secs(60), 20)));
    assert_eq!(c.serve_stale, Some((Duration::from_secs(3600), true)));
    let kubeadm = load(crate::KUBEADM_COREFILE, &|_| None).unwrap();
    let Some(Plugin::Cache(k)) = kubeadm[0]
        .plugins
        .iter()
        .find(|p| matches!(p, Plugin::Cache(_)))
    else {
        panic!("no cache")
    };
    assert_eq!(k.disable_success, ["cluster.local."]);
    assert_eq!(k.disable_denial, ["cluster.local."]);
    let Plugin::Kubernetes(k) = &p[2] else {
        panic!()
    };
    assert_eq!(k.zones, ["cluster.local."]);
    assert_eq!(k.pods, PodsMode::Verified);
    assert!(k.endpoint_pod_names && k.falls_through("anything."));
    assert_eq!(k.namespaces, ["default", "kube-system"]);
    let Plugin::Hosts(h) = &p[3] else { panic!() };
    assert_eq!(
        h.entries,
        [("192.0.2.1".to_string(), vec!["example.test".to_string()])]
    );
    let Plugin::Rewrite(r) = &p[4] else { panic!() };
    assert_eq!(
        (r.kind.clone(), r.from.as_str()),
        (RewriteMatch::Exact, "foo.example.com")
    );
    let Plugin::Rewrite(r) = &p[5] else { panic!() };
    assert!(r.stop && r.answer_auto && r.kind == RewriteMatch::Suffix);
}

#[test]
fn setup_errors() {
    let e = |t: &str| load(t, &no_env).unwrap_err().to_string();
    assert_eq!(
        e(".:53 {\n forward .\n}"),
        "plugin/forward: Corefile:2 - Error during parsing: Wrong argument count or unexpected line ending after 'forward'"
    );
    assert_eq!(
        e(".:53 {\n kubernetes {\n  pods maybe\n }\n}"),
        "plugin/kubernetes: invalid value for pods: 'maybe', must be one of: disabled, verified, insecure"
    );
    assert_eq!(
        e(".:53 {\n bogus\n}"),
        "Corefile:2 - Error during parsing: Unknown directive 'bogus'"
    );
    assert!(e(".:53 {\n cache {\n  nope\n }\n}").starts_with("plugin/cache: Corefile:3"));
}

#[test]
fn go_durations() {
    assert_eq!(duration("1m30s"), Some(Duration::from_secs(90)));
    assert_eq!(duration("500ms"), Some(Duration::from_millis(500)));
    assert_eq!(duration("5"), None);
    assert_eq!(duration("x"), None);
}
