//! The endpoints and EndpointSlice controllers, seen by kubectl: a Deployment
//! behind Services, the course's commands (003 §3), scaling, an unready pod, a
//! selector matching nothing, a named targetPort some pods lack, the Service's
//! deletion, and `default/kubernetes`.

use crate::common::*;

const WEB: &str = r#"
apiVersion: v1
kind: Namespace
metadata:
  name: demo
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: demo
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: nginx
        image: nginx:alpine
        ports:
        - {name: http, containerPort: 80}
        readinessProbe:
          httpGet: {path: /, port: http}
          periodSeconds: 1
---
apiVersion: v1
kind: Service
metadata:
  name: web-svc
  namespace: demo
  labels: {tier: front}
spec:
  selector: {app: web}
  ports:
  - {name: http, port: 80, targetPort: http}
  - {name: metrics, port: 9100, targetPort: metrics}
---
apiVersion: v1
kind: Service
metadata:
  name: empty-svc
  namespace: demo
spec:
  selector: {app: nothing}
  ports:
  - {port: 80}
"#;

/// A pod the Service selects that never gets ready.
const SAD: &str = r#"
apiVersion: v1
kind: Pod
metadata:
  name: sad
  namespace: demo
  labels: {app: web}
spec:
  containers:
  - name: nginx
    image: nginx:alpine
    ports:
    - {name: http, containerPort: 80}
    readinessProbe:
      httpGet: {path: /nope, port: 80}
      periodSeconds: 1
"#;

fn web_ips(lab: &Lab) -> Vec<String> {
    let ips = lab.k(&args(
        "get pods -n demo -l app=web -o jsonpath={.items[*].status.podIP}",
    ));
    let mut v: Vec<String> = ips.split_whitespace().map(String::from).collect();
    v.sort();
    v
}

fn sorted_words(s: &str) -> Vec<String> {
    let mut v: Vec<String> = s.split_whitespace().map(String::from).collect();
    v.sort();
    v
}

/// Waits until the Endpoints' ready addresses are the ready pods' IPs, `n` of them.
#[track_caller]
fn wait_addresses(lab: &Lab, n: usize) -> Vec<String> {
    wait_until(secs(60), || {
        let ips = web_ips(lab);
        let got = sorted_words(&lab.k(&[
            "get",
            "endpoints",
            "web-svc",
            "-n",
            "demo",
            "-o",
            "jsonpath={.subsets[*].addresses[*].ip}",
        ]));
        if got.len() == n && got == ips {
            Ok(got)
        } else {
            Err(format!("endpoints {got:?}, pods {ips:?}, want {n}"))
        }
    })
}

fn slice_names(lab: &Lab) -> String {
    lab.k(&args(
        "get endpointslices -n demo -l kubernetes.io/service-name=web-svc -o jsonpath={.items[*].metadata.name}",
    ))
}

#[test]
fn endpoints_and_slices_follow_the_pods() {
    let lab = Lab::up(2);
    lab.apply(WEB);
    let ips = wait_addresses(&lab, 2);

    // 003 §3: the course's jsonpath commands
    let course = lab.k(&[
        "get",
        "endpoints",
        "web-svc",
        "-n",
        "demo",
        "-o",
        "jsonpath={.subsets[*].addresses[*].ip}{\"\\n\"}",
    ]);
    assert_eq!(sorted_words(&course), ips);
    let lines = lab.k(&[
        "get",
        "endpointslices",
        "-n",
        "demo",
        "-l",
        "kubernetes.io/service-name=web-svc",
        "-o",
        "jsonpath={range .items[*].endpoints[*]}{.addresses[*]}{\"\\n\"}{end}",
    ]);
    assert_eq!(sorted_words(&lines), ips, "{lines}");
    assert_eq!(lines.lines().count(), 2, "{lines}");

    // the Endpoints: only the port the pods have (no `metrics` port on them)
    let ep = lab.k(&args("get endpoints web-svc -n demo -o yaml"));
    assert_contains(&ep, "name: http");
    assert_contains(&ep, "port: 80");
    assert_not_contains(&ep, "metrics");
    assert_contains(&ep, "kind: Pod");
    assert_contains(&ep, "nodeName: node");
    assert_contains(&ep, "tier: front");
    assert_contains(&ep, "endpoints.kubernetes.io/last-change-trigger-time");
    let table = lab.k(&args("get endpoints web-svc -n demo"));
    for ip in &ips {
        assert_contains(&table, format!("{ip}:80"));
    }

    // the slice
    let s = lab.k(&args(
        "get endpointslices -n demo -l kubernetes.io/service-name=web-svc -o yaml",
    ));
    for want in [
        "addressType: IPv4",
        "generateName: web-svc-",
        "endpointslice.kubernetes.io/managed-by: endpointslice-controller.k8s.io",
        "kubernetes.io/service-name: web-svc",
        "tier: front",
        "kind: Service",
        "blockOwnerDeletion: true",
        "controller: true",
        "ready: true",
        "serving: true",
        "terminating: false",
        "name: http",
        "protocol: TCP",
        "kind: Pod",
    ] {
        assert_contains(&s, want);
    }
    assert_not_contains(&s, "metrics");
    let slice = slice_names(&lab);
    assert!(slice.starts_with("web-svc-"), "{slice}");
    let table = lab.k(&args("get endpointslices -n demo"));
    assert_contains(&table, "IPv4");
    let described = lab.k(&args("describe service web-svc -n demo"));
    for ip in &ips {
        assert_contains(&described, ip);
    }

    // steady pods: nothing is rewritten
    let versions = || {
        lab.k(&args(
            "get endpoints,endpointslices -n demo -o jsonpath={.items[*].metadata.resourceVersion}",
        ))
    };
    let before = versions();
    std::thread::sleep(secs(3));
    assert_eq!(versions(), before);

    // a selector that matches nothing: Endpoints without subsets, one empty slice
    wait_until(secs(30), || {
        let o = lab.kubectl(&args("get endpoints empty-svc -n demo"));
        let t = out(&o);
        if o.status.success() && t.contains("<none>") {
            Ok(())
        } else {
            Err(out_err(&o))
        }
    });
    let empty = lab.k(&args(
        "get endpointslices -n demo -l kubernetes.io/service-name=empty-svc -o jsonpath={.items[*].metadata.name}",
    ));
    assert_eq!(empty.split_whitespace().count(), 1, "{empty}");
    let eps = lab.k(&args(
        "get endpointslices -n demo -l kubernetes.io/service-name=empty-svc -o jsonpath={.items[0].endpoints}",
    ));
    assert!(matches!(eps.trim(), "" | "[]"), "{eps}");

    // scaling: the addresses follow, in the same slice
    lab.k(&args("scale deployment web -n demo --replicas=3"));
    wait_addresses(&lab, 3);
    assert_eq!(slice_names(&lab), slice);
    lab.k(&args("scale deployment web -n demo --replicas=1"));
    wait_addresses(&lab, 1);
    assert_eq!(slice_names(&lab), slice);

    // an unready pod: notReadyAddresses, ready=false in the slice
    lab.apply(SAD);
    let sad_ip = wait_until(secs(60), || {
        let ip = lab.pod_ip("demo", "sad");
        let unready = lab.k(&args(
            "get endpoints web-svc -n demo -o jsonpath={.subsets[*].notReadyAddresses[*].ip}",
        ));
        if !ip.is_empty() && unready.trim() == ip {
            Ok(ip)
        } else {
            Err(format!("notReadyAddresses {unready:?}, sad's IP {ip:?}"))
        }
    });
    let ready_of_sad = format!(
        "jsonpath={{range .items[*].endpoints[?(@.addresses[0]==\"{sad_ip}\")]}}{{.conditions.ready}}/{{.conditions.serving}}/{{.targetRef.name}}{{end}}"
    );
    wait_until(secs(30), || {
        let got = lab.k(&[
            "get",
            "endpointslices",
            "-n",
            "demo",
            "-l",
            "kubernetes.io/service-name=web-svc",
            "-o",
            &ready_of_sad,
        ]);
        if got == "false/false/sad" {
            Ok(())
        } else {
            Err(got)
        }
    });
    assert_eq!(slice_names(&lab), slice);

    // a managed slice deleted by hand comes back
    lab.k(&["delete", "endpointslice", slice.trim(), "-n", "demo"]);
    wait_until(secs(30), || {
        let names = slice_names(&lab);
        let eps = lab.k(&args(
            "get endpointslices -n demo -l kubernetes.io/service-name=web-svc -o jsonpath={.items[*].endpoints[*].addresses[0]}",
        ));
        if !names.trim().is_empty() && names != slice && eps.split_whitespace().count() == 2 {
            Ok(())
        } else {
            Err(format!("slices {names:?} with {eps:?}"))
        }
    });

    // the Service deleted: its Endpoints and slices go with it
    lab.k(&args("delete service web-svc -n demo"));
    lab.wait_none(
        secs(30),
        "get endpointslices -n demo -l kubernetes.io/service-name=web-svc -o name",
    );
    wait_until(secs(30), || {
        let o = lab.kubectl(&args("get endpoints web-svc -n demo"));
        if o.status.success() {
            Err(out(&o))
        } else {
            Ok(())
        }
    });

    // default/kubernetes: the API server's own Endpoints and EndpointSlice
    let ep = lab.k(&args("get endpoints kubernetes -n default"));
    assert_contains(
        &ep,
        format!(
            "{}:{}",
            kinet_model::lab::node_ip(1),
            kinet_model::lab::API_PORT
        ),
    );
    let s = lab.k(&args("get endpointslice kubernetes -n default -o yaml"));
    assert_contains(&s, "kubernetes.io/service-name: kubernetes");
    assert_not_contains(&s, "managed-by");
    assert_contains(&s, "name: https");
    assert_contains(&s, "ready: true");
}
