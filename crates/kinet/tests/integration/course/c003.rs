//! 003 "Kubernetes réseau" (../shared/seeds/003_75932b0d12027b59.txt).

use super::*;

/// "Kubernetes réseau" (../shared/seeds/003_75932b0d12027b59.txt) §1–3, §8.1,
/// §8.3 and §9.1 and the mini-lab's steps 1 and 4, as written (the DNS steps
/// are the DNS issue's), with `kinet kubectl` and `kinet ssh outside`.
#[test]
fn services_chapter_mini_lab() {
    let c = Course { lab: Lab::up(2) };
    // Étape 1 — Déployer l'app et le Service
    c.ok("create ns demo");
    c.ok("config set-context --current --namespace=demo");
    c.ok("create deploy web --image=nginx:1.27 --replicas=2");
    c.ok("expose deploy web --name=web-svc --port=80 --target-port=80");
    c.ok("rollout status deploy/web --timeout=60s");
    let wide = c.ok("get svc web-svc -o wide");
    let ip = c.ok("get svc web-svc -o jsonpath={.spec.clusterIP}");
    assert!(ip.starts_with("10.152.183."), "ClusterIP {ip:?}");
    let row = wide.lines().nth(1).unwrap_or_default().to_string();
    for cell in [
        "web-svc",
        "ClusterIP",
        ip.as_str(),
        "<none>",
        "80/TCP",
        "app=web",
    ] {
        assert_contains(&row, cell);
    }
    let pods: BTreeSet<String> = c
        .ok("get pods -l app=web -o jsonpath={.items[*].status.podIP}")
        .split_whitespace()
        .map(String::from)
        .collect();
    assert_eq!(pods.len(), 2);
    // §3: the Endpoints and EndpointSlices list the two ready pods
    let eps = wait_until(secs(30), || {
        let got: BTreeSet<String> = c
            .ok(r#"get endpoints web-svc -n demo -o jsonpath='{.subsets[*].addresses[*].ip}{"\n"}'"#)
            .split_whitespace()
            .map(String::from)
            .collect();
        if got == pods {
            Ok(got)
        } else {
            Err(format!("endpoints {got:?}, pods {pods:?}"))
        }
    });
    let yaml = c.ok("get endpoints web-svc -o yaml");
    assert_contains(&yaml, "kind: Endpoints");
    assert_contains(&yaml, "targetRef:");
    let slices = c.ok(
        r#"get endpointslices -n demo -l kubernetes.io/service-name=web-svc -o jsonpath='{range .items[*].endpoints[*]}{.addresses[*]}{"\n"}{end}'"#,
    );
    let from_slices: BTreeSet<String> = slices.split_whitespace().map(String::from).collect();
    assert_eq!(from_slices, eps);
    let slice_yaml =
        c.ok("get endpointslices -n demo -l kubernetes.io/service-name=web-svc -o yaml");
    assert_contains(&slice_yaml, "ready: true");
    assert_contains(&slice_yaml, "addressType: IPv4");
    // describe as in 000 Test 9 (kubectl's column width varies by version)
    let d = c.ok("describe svc web-svc -n demo");
    let flat = d.split_whitespace().collect::<Vec<_>>().join(" ");
    for line in [
        "Name: web-svc".to_string(),
        "Selector: app=web".to_string(),
        "Type: ClusterIP".to_string(),
        "IP Family Policy: SingleStack".to_string(),
        "IP Families: IPv4".to_string(),
        format!("IP: {ip}"),
        format!("IPs: {ip}"),
        "TargetPort: 80/TCP".to_string(),
        "Session Affinity: None".to_string(),
    ] {
        assert_contains(&flat, &line);
    }
    for p in &pods {
        assert_contains(&d, format!("{p}:80"));
    }
    // a pod reaches the ClusterIP
    c.lab.apply(
        &busybox_pod("client", "node2").replace("name: client", "name: client\n  namespace: demo"),
    );
    c.lab.wait_ready("demo", "client");
    let page = wait_until(secs(30), || {
        let o = c.lab.exec(
            "demo",
            "client",
            &["wget", "-qO-", &format!("http://{ip}/")],
        );
        if o.status.success() {
            Ok(out(&o))
        } else {
            Err(out_err(&o))
        }
    });
    assert_contains(&page, "Welcome to nginx!");

    // §8.1: a selector that matches nothing gives an empty Endpoints
    c.ok("create service clusterip lonely --tcp=80:8080");
    let d = c.ok("describe svc lonely -n demo");
    assert_contains(&d, "Endpoints:");
    let lonely = c.ok("get endpoints lonely -o jsonpath={.subsets}");
    assert_eq!(lonely.trim(), "");
    c.ok("get pods -n demo --show-labels");
    c.ok("get events -n demo --sort-by=.lastTimestamp");

    // Étape 4 — NodePort + ExternalTrafficPolicy (and §8.3)
    c.ok(r#"patch svc web-svc -p '{"spec":{"type":"NodePort","externalTrafficPolicy":"Local"}}'"#);
    let node_port = c.ok("get svc web-svc -o jsonpath={.spec.ports[0].nodePort}");
    let np: u16 = node_port
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("nodePort {node_port:?}"));
    assert!((30000..=32767).contains(&np));
    let wide = c.ok("get svc web-svc -o wide");
    assert_contains(&wide, format!("80:{np}/TCP"));
    assert_contains(&wide, "NodePort");
    // a node with a Ready web pod answers, keeping the client's address
    let node = c.ok("get pods -l app=web -o jsonpath={.items[0].status.hostIP}");
    let got = wait_until(secs(30), || {
        let o = c.lab.kinet(&[
            "ssh",
            "outside",
            "--",
            "curl",
            "-sI",
            "--max-time",
            "3",
            &format!("http://{node}:{np}/"),
        ]);
        if o.status.success() {
            Ok(out(&o))
        } else {
            Err(out_err(&o))
        }
    });
    assert_contains(&got, "HTTP/1.1 200 OK");
    c.ok("config set-context --current --namespace=default");
}
