//! 002 "Réseaux conteneurs" (../shared/seeds/002_f84c37f558a8f29f.txt): Services.

use super::*;

/// 002's service-clusterip.yaml, as written.
const SERVICE_CLUSTERIP_002: &str = r#"# service-clusterip.yaml
apiVersion: v1
kind: Service
metadata:
  name: nginx-service
spec:
  type: ClusterIP
  selector:
    app: nginx  # Sélectionne les Pods avec ce label
  ports:
  - port: 80        # Port du Service
    targetPort: 80  # Port du Pod
    protocol: TCP
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: nginx
spec:
  replicas: 3
  selector:
    matchLabels:
      app: nginx
  template:
    metadata:
      labels:
        app: nginx
    spec:
      containers:
      - name: nginx
        image: nginx:alpine
        ports:
        - containerPort: 80
"#;

const SERVICE_NODEPORT_002: &str = r#"apiVersion: v1
kind: Service
metadata:
  name: nginx-nodeport
spec:
  type: NodePort
  selector:
    app: nginx
  ports:
  - port: 80
    targetPort: 80
    nodePort: 30080  # Port sur chaque nœud (30000-32767)
    protocol: TCP
"#;

const SERVICE_LOADBALANCER_002: &str = r#"apiVersion: v1
kind: Service
metadata:
  name: nginx-lb
spec:
  type: LoadBalancer
  selector:
    app: nginx
  ports:
  - port: 80
    targetPort: 80
"#;

const SERVICE_EXTERNALNAME_002: &str = r#"apiVersion: v1
kind: Service
metadata:
  name: external-database
spec:
  type: ExternalName
  externalName: mysql.example.com  # DNS externe
"#;

/// The headless Service of 002's full example (`clusterIP: None  # Headless
/// service (pour StatefulSet)`), over the nginx pods.
const SERVICE_HEADLESS_002: &str = r#"apiVersion: v1
kind: Service
metadata:
  name: nginx-headless
spec:
  selector:
    app: nginx
  ports:
  - port: 80
    targetPort: 80
  clusterIP: None  # Headless service (pour StatefulSet)
"#;

/// 002 "Services Kubernetes" (../shared/seeds/002_f84c37f558a8f29f.txt): its
/// ClusterIP, NodePort, LoadBalancer and ExternalName manifests and commands as
/// written, a headless Service, the kube-proxy explanation's `iptables-save |
/// grep nginx-service`, then "Debugging réseau Kubernetes": the tools and
/// "Problème 1 : Pod ne peut pas atteindre un Service", with the Service's IP
/// where the course writes its name. Left out: `wget -O- http://nginx-service`,
/// `nslookup nginx-service` and step 4 (`nslookup <service-name>`) need cluster
/// DNS (issue 9), as does ExternalName's pymysql example; step 6 (NetworkPolicies)
/// is issue 10's; LoadBalancer stays `<pending>` until the MetalLB issue; the
/// diagnostic script's `wget --timeout=5` is left out (busybox 1.35's `-T` crashes).
#[test]
fn services_kubernetes_and_debugging_002() {
    let c = Course { lab: Lab::up(2) };
    // 1. ClusterIP
    let (_d1, f) = c.manifest("service-clusterip.yaml", SERVICE_CLUSTERIP_002);
    c.ok(&format!("apply -f {f}"));
    c.ok("rollout status deploy/nginx --timeout=60s");
    let ip = c.ok("get svc nginx-service -o jsonpath={.spec.clusterIP}");
    let get = c.ok("get svc nginx-service");
    let row = get.lines().nth(1).unwrap_or_default().to_string();
    for cell in [
        "nginx-service",
        "ClusterIP",
        ip.as_str(),
        "<none>",
        "80/TCP",
    ] {
        assert_contains(&row, cell);
    }
    // `kubectl run -it --rm test --image=busybox --restart=Never -- sh`, typing
    // into its shell (with a terminal, `script`), by the Service's IP
    wait_until(secs(30), || {
        let eps = c.ok("get endpoints nginx-service -o jsonpath={.subsets[*].addresses[*].ip}");
        if eps.split_whitespace().count() == 3 {
            Ok(())
        } else {
            Err(format!("endpoints {eps:?}"))
        }
    });
    // kube-proxy programs the endpoints within its sync period: wait until
    // every node forwards the Service, as a user would simply retry
    for node in ["node1", "node2"] {
        c.ssh_until(
            node,
            &format!("curl -s --max-time 2 -o /dev/null http://{ip}/"),
        );
    }
    let mut shell = Command::new("script")
        .args([
            "-qec",
            &format!(
                "{} --name {} kubectl run -it --rm test --image=busybox --restart=Never -- sh",
                kinet_bin(),
                c.lab.name
            ),
            "/dev/null",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(
        shell.stdin.as_mut().unwrap(),
        format!("wget -O- http://{ip}; exit\n").as_bytes(),
    )
    .unwrap();
    let o = shell.wait_with_output().unwrap();
    assert_contains(out(&o), "Welcome to nginx!");
    c.lab.wait_none(secs(30), "get pod test --ignore-not-found");

    // "Voir les règles iptables créées": one chain per Service, random probabilities
    let save = c.ssh("node1", "sudo iptables-save");
    let grep: Vec<&str> = save
        .lines()
        .filter(|l| l.contains("nginx-service"))
        .collect();
    let has = |needle: &str| grep.iter().any(|l| l.contains(needle));
    assert!(
        has(&format!("-A KUBE-SERVICES -d {ip}/32 -p tcp")) && has("-j KUBE-SVC-"),
        "{grep:#?}"
    );
    assert!(
        has("-m statistic --mode random --probability 0.33333333349")
            && has("-m statistic --mode random --probability 0.50000000000"),
        "{grep:#?}"
    );
    assert_eq!(
        grep.iter()
            .filter(|l| l.starts_with("-A KUBE-SVC-") && l.contains("-j KUBE-SEP-"))
            .count(),
        3,
        "{grep:#?}"
    );

    // 2. NodePort: any node's port 30080, from outside the cluster
    let (_d2, f) = c.manifest("service-nodeport.yaml", SERVICE_NODEPORT_002);
    c.ok(&format!("apply -f {f}"));
    let get = c.ok("get svc nginx-nodeport");
    assert_contains(&get, "NodePort");
    assert_contains(&get, "80:30080/TCP");
    for n in 1..=2 {
        let page = c.ssh_until(
            "outside",
            &format!(
                "curl -s --max-time 3 http://{}:30080",
                kinet_model::lab::node_ip(n)
            ),
        );
        assert_contains(&page, "Welcome to nginx!");
    }

    // 3. LoadBalancer: no cloud provider here, the address stays pending
    let (_d3, f) = c.manifest("service-loadbalancer.yaml", SERVICE_LOADBALANCER_002);
    c.ok(&format!("apply -f {f}"));
    let get = c.ok("get svc nginx-lb");
    assert_contains(&get, "LoadBalancer");
    assert_contains(&get, "<pending>");

    // 4. ExternalName: an alias, no ClusterIP, no rules
    let (_d4, f) = c.manifest("service-externalname.yaml", SERVICE_EXTERNALNAME_002);
    c.ok(&format!("apply -f {f}"));
    let get = c.ok("get svc external-database");
    assert_contains(&get, "ExternalName");
    assert_contains(&get, "mysql.example.com");
    assert_eq!(
        c.ok("get svc external-database -o jsonpath={.spec.clusterIP}"),
        ""
    );

    // headless: no ClusterIP, the Endpoints list the pods, kube-proxy leaves it alone
    let (_d5, f) = c.manifest("service-headless.yaml", SERVICE_HEADLESS_002);
    c.ok(&format!("apply -f {f}"));
    let get = c.ok("get svc nginx-headless");
    assert_contains(&get, "None");
    wait_until(secs(30), || {
        let eps = c.ok("get endpoints nginx-headless -o jsonpath={.subsets[*].addresses[*].ip}");
        if eps.split_whitespace().count() == 3 {
            Ok(())
        } else {
            Err(format!("headless endpoints {eps:?}"))
        }
    });
    let save = c.ssh("node2", "sudo iptables-save");
    assert_not_contains(&save, "default/nginx-headless");
    assert_not_contains(&save, "default/external-database");

    // Debugging: the tools
    c.ok("run netshoot --image=nicolaka/netshoot --restart=Never -- sleep 3600");
    c.lab.wait_ready("default", "netshoot");
    // Problème 1 : Pod ne peut pas atteindre un Service
    assert_contains(c.ok("get pod netshoot"), "Running");
    assert_contains(c.ok("get svc nginx-service"), &ip);
    let eps = c.ok("get endpoints nginx-service");
    assert_contains(&eps, ":80");
    let page = c.until(&format!("exec netshoot -- curl http://{ip}:80"));
    assert_contains(&page, "Welcome to nginx!");
    let logs = c.ok("logs -n kube-system -l k8s-app=calico-node");
    assert!(!logs.trim().is_empty(), "calico-node logged nothing");
    // the diagnostic script's kubectl calls: the Service and its Endpoints as JSON
    let svc: serde_json::Value =
        serde_json::from_str(&c.ok("get svc nginx-service -n default -o json")).unwrap();
    assert_eq!(svc["spec"]["type"], "ClusterIP");
    assert_eq!(svc["spec"]["clusterIP"], ip.as_str());
    assert_eq!(svc["spec"]["ports"][0]["port"], 80);
    let ep: serde_json::Value =
        serde_json::from_str(&c.ok("get endpoints nginx-service -n default -o json")).unwrap();
    let addrs: Vec<&serde_json::Value> = ep["subsets"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|s| s["addresses"].as_array().into_iter().flatten())
        .collect();
    assert_eq!(addrs.len(), 3, "{ep}");
    assert!(
        addrs.iter().all(|a| a["targetRef"]["name"]
            .as_str()
            .is_some_and(|n| n.starts_with("nginx-"))),
        "{ep}"
    );
    c.ok("run debug-test-dns --image=busybox --restart=Never -n default -- sleep 3600");
    c.lab.wait_ready("default", "debug-test-dns");
    assert_contains(
        c.until(&format!(
            "exec debug-test-dns -n default -- wget -O- http://{ip}:80"
        )),
        "Welcome to nginx!",
    );
    c.ok("delete pod debug-test-dns -n default");
}
