//! Volumes and service-account credentials, as kubelet and the API server give them:
//! configMap, secret, emptyDir, downwardAPI and projected volumes read back with
//! kubectl exec, the kube-api-access volume, `kubectl create token` and tokens as
//! bearer credentials, FailedMount while a configMap is missing. Nothing may be
//! mounted on or created in the host's filesystem outside kinet's own directories.

use crate::common::*;
use base64::Engine;
use std::path::Path;

/// The host's mount points, without the ones kinet (and kinet's kernel tests) own:
/// labs' namespace handles and state. Tests of other labs may add those meanwhile.
fn host_mounts() -> Vec<String> {
    let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let mut v: Vec<String> = text
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .filter(|m| {
            !(m.starts_with("/run/netns/kinet-")
                || m.starts_with("/run/kinet/")
                || m.starts_with("/var/lib/kinet/")
                || m.contains("kltest"))
        })
        .map(String::from)
        .collect();
    v.sort();
    v
}

/// Paths the pods of these tests mount into their containers; none may appear on the host.
const CONTAINER_ONLY: &[&str] = &[
    "/etc/config",
    "/etc/secret",
    "/etc/podinfo",
    "/etc/app.properties",
    "/shared",
    "/data",
    "/run/secrets",
    "/etc/late",
];

/// What the host looks like: its mounts, and which of the containers' paths exist.
fn host_state() -> (Vec<String>, Vec<&'static str>) {
    let present = CONTAINER_ONLY
        .iter()
        .copied()
        .filter(|p| Path::new(p).exists())
        .collect();
    (host_mounts(), present)
}

fn assert_host_untouched(before: &(Vec<String>, Vec<&'static str>)) {
    let (mounts, present) = host_state();
    assert_eq!(mounts, before.0, "the host's mounts changed");
    assert_eq!(
        present, before.1,
        "the containers' mount paths must exist only inside them"
    );
}

const VOLUMES: &str = r#"apiVersion: v1
kind: ConfigMap
metadata: {name: app, namespace: shop}
data:
  key: hello-config
  app.properties: "color=blue\nlives=3\n"
---
apiVersion: v1
kind: Secret
metadata: {name: db, namespace: shop}
stringData: {password: s3cret, user: admin}
---
apiVersion: v1
kind: Pod
metadata:
  name: vols
  namespace: shop
  labels: {app: vols, tier: back}
  annotations: {note: 'say "hi"'}
spec:
  containers:
  - name: writer
    image: busybox:1.36
    command: ["sh", "-c", "echo from-writer > /shared/msg; sleep infinity"]
    volumeMounts:
    - {name: shared, mountPath: /shared}
    - {name: cfg, mountPath: /etc/config}
    - {name: sec, mountPath: /etc/secret}
    - {name: info, mountPath: /etc/podinfo}
    - {name: cfg, mountPath: /etc/app.properties, subPath: app.properties}
  - name: reader
    image: busybox:1.36
    command: ["sleep", "infinity"]
    volumeMounts:
    - {name: shared, mountPath: /data, readOnly: true}
    - {name: only, mountPath: /etc/config}
  volumes:
  - {name: shared, emptyDir: {}}
  - {name: cfg, configMap: {name: app}}
  - name: only
    configMap:
      name: app
      items: [{key: key, path: renamed/key.txt, mode: 0400}]
  - {name: sec, secret: {secretName: db}}
  - name: info
    downwardAPI:
      items:
      - {path: labels, fieldRef: {fieldPath: metadata.labels}}
      - {path: annotations, fieldRef: {fieldPath: metadata.annotations}}
      - {path: name, fieldRef: {fieldPath: metadata.name}}
      - {path: mem, resourceFieldRef: {containerName: writer, resource: limits.memory, divisor: 1Mi}}
"#;

#[test]
fn config_maps_secrets_empty_dirs_and_the_downward_api() {
    let before = host_state();
    let lab = Lab::up(1);
    lab.k(&["create", "namespace", "shop"]);
    lab.apply(VOLUMES);
    lab.wait_ready("shop", "vols");
    let exec = |c: &str, script: &str| {
        lab.k(&[
            "exec", "-n", "shop", "vols", "-c", c, "--", "sh", "-c", script,
        ])
    };
    assert_eq!(exec("writer", "cat /etc/config/key"), "hello-config");
    assert_eq!(
        exec("writer", "cat /etc/app.properties"),
        "color=blue\nlives=3\n"
    );
    assert_eq!(exec("writer", "cat /etc/secret/password"), "s3cret");
    assert_eq!(exec("writer", "cat /etc/secret/user"), "admin");
    assert_eq!(
        exec("writer", "cat /etc/podinfo/labels"),
        "app=\"vols\"\ntier=\"back\""
    );
    // annotations are quoted as Go does
    assert_contains(
        exec("writer", "cat /etc/podinfo/annotations"),
        "note=\"say \\\"hi\\\"\"",
    );
    assert_eq!(exec("writer", "cat /etc/podinfo/name"), "vols");
    // no limit: the node's allocatable memory, in MiB
    let mem = exec("writer", "cat /etc/podinfo/mem");
    assert!(mem.parse::<u64>().is_ok_and(|m| m > 0), "{mem:?}");
    // kubelet's layout: ..data points to a timestamped directory, keys are symlinks into it
    let listing = exec("writer", "ls -la /etc/config");
    assert_contains(&listing, "..data -> ..20");
    assert_contains(&listing, "key -> ..data/key");
    // configMap volumes are read-only
    let o = lab.kubectl(&args(
        "exec -n shop vols -c writer -- sh -c 'echo x > /etc/config/new'",
    ));
    assert_contains(assert_fails(&o), "Read-only file system");
    // the emptyDir is shared: what one container wrote, the other reads
    assert_eq!(exec("reader", "cat /data/msg"), "from-writer\n");
    // readOnly: true is honoured
    let o = lab.kubectl(&args(
        "exec -n shop vols -c reader -- sh -c 'echo x > /data/y'",
    ));
    assert_contains(assert_fails(&o), "Read-only file system");
    // each container sees its own mounts at the same path
    assert_eq!(
        exec("reader", "cat /etc/config/renamed/key.txt"),
        "hello-config"
    );
    assert_eq!(
        exec("reader", "stat -L -c %a /etc/config/renamed/key.txt"),
        "400\n"
    );
    assert_eq!(
        exec(
            "reader",
            "test -e /etc/config/app.properties || echo absent"
        ),
        "absent\n"
    );
    // kinet exec enters the first container's mounts too
    let o = lab.exec("shop", "vols", &args("cat /etc/config/key"));
    assert_eq!(assert_ok(&o), "hello-config");
    assert_host_untouched(&before);
    drop(lab);
    assert_host_untouched(&before);
}

fn decode_jwt(token: &str) -> serde_json::Value {
    let payload = token.split('.').nth(1).expect("a JWT");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

#[test]
fn pods_get_service_account_credentials() {
    let before = host_state();
    let lab = Lab::up(1);
    lab.k(&["create", "namespace", "team"]);
    lab.apply(
        r#"apiVersion: v1
kind: Pod
metadata: {name: client, namespace: team}
spec:
  containers:
  - name: c
    image: nicolaka/netshoot
    command: ["sleep", "infinity"]
---
apiVersion: v1
kind: Pod
metadata: {name: quiet, namespace: team}
spec:
  automountServiceAccountToken: false
  containers:
  - name: c
    image: busybox:1.36
    command: ["sleep", "infinity"]
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: robot, namespace: team}
automountServiceAccountToken: false
---
apiVersion: v1
kind: Pod
metadata: {name: robotic, namespace: team}
spec:
  serviceAccountName: robot
  containers:
  - name: c
    image: busybox:1.36
    command: ["sleep", "infinity"]
"#,
    );
    for p in ["client", "quiet", "robotic"] {
        lab.wait_ready("team", p);
    }
    // the pod as a real cluster shows it
    let pod: serde_json::Value =
        serde_json::from_str(&lab.k(&["get", "pod", "client", "-n", "team", "-o", "json"]))
            .unwrap();
    let vol = &pod["spec"]["volumes"][0];
    let vname = vol["name"].as_str().unwrap();
    assert!(
        vname.starts_with("kube-api-access-") && vname.len() == 21,
        "{vname}"
    );
    assert_eq!(vol["projected"]["defaultMode"], 420);
    assert_eq!(
        vol["projected"]["sources"][0]["serviceAccountToken"],
        serde_json::json!({"expirationSeconds": 3607, "path": "token"})
    );
    assert_eq!(
        pod["spec"]["containers"][0]["volumeMounts"][0],
        serde_json::json!({"mountPath": "/var/run/secrets/kubernetes.io/serviceaccount", "name": vname, "readOnly": true})
    );
    assert_eq!(pod["spec"]["serviceAccountName"], "default");
    assert_eq!(pod["spec"]["serviceAccount"], "default");
    let sa_dir = "/var/run/secrets/kubernetes.io/serviceaccount";
    let exec =
        |p: &str, script: &str| lab.kubectl(&["exec", "-n", "team", p, "--", "sh", "-c", script]);
    assert_eq!(
        out(&exec("client", &format!("ls {sa_dir}"))),
        "ca.crt\nnamespace\ntoken\n"
    );
    assert_eq!(
        out(&exec("client", &format!("cat {sa_dir}/namespace"))),
        "team"
    );
    let ca = std::fs::read_to_string(format!("/var/lib/kinet/{}/pki/ca.crt", lab.name)).unwrap();
    assert_eq!(out(&exec("client", &format!("cat {sa_dir}/ca.crt"))), ca);
    let token = out(&exec("client", &format!("cat {sa_dir}/token")));
    let claims = decode_jwt(&token);
    assert_eq!(claims["sub"], "system:serviceaccount:team:default");
    assert_eq!(
        claims["aud"][0],
        "https://kubernetes.default.svc.cluster.local"
    );
    assert_eq!(claims["kubernetes.io"]["pod"]["name"], "client");
    assert_eq!(
        claims["kubernetes.io"]["pod"]["uid"],
        pod["metadata"]["uid"]
    );
    assert_eq!(claims["kubernetes.io"]["node"]["name"], "node1");
    let iat = claims["iat"].as_i64().unwrap();
    assert_eq!(
        claims["kubernetes.io"]["warnafter"].as_i64().unwrap(),
        iat + 3607
    );
    // the pod calls the API server with its own credentials, from inside the lab
    let call = |auth: &str| {
        out(&exec(
            "client",
            &format!(
                "curl -sS --cacert {sa_dir}/ca.crt -H \"Authorization: Bearer {auth}\" https://192.168.1.10:16443/api/v1/namespaces/team/pods/client"
            ),
        ))
    };
    let me: serde_json::Value =
        serde_json::from_str(&call(&format!("$(cat {sa_dir}/token)"))).unwrap();
    assert_eq!(me["metadata"]["name"], "client");
    let refused: serde_json::Value = serde_json::from_str(&call("not-a-token")).unwrap();
    assert_eq!(refused["code"], 401);
    // no credentials where automount is off (on the pod, or on its service account)
    for p in ["quiet", "robotic"] {
        let o = exec(p, &format!("ls {sa_dir}"));
        assert_contains(assert_fails(&o), "No such file or directory");
        let pod: serde_json::Value =
            serde_json::from_str(&lab.k(&["get", "pod", p, "-n", "team", "-o", "json"])).unwrap();
        assert_eq!(pod["metadata"]["name"], p);
        assert!(pod["spec"]["volumes"].is_null(), "{p}: {}", pod["spec"]);
        assert!(
            pod["spec"]["containers"][0]["volumeMounts"].is_null(),
            "{p}: {}",
            pod["spec"]
        );
    }
    // a pod of a service account that does not exist is refused
    let o = lab.kubectl(&[
        "run",
        "ghost",
        "-n",
        "team",
        "--image=busybox",
        "--overrides",
        r#"{"spec":{"serviceAccountName":"nobody"}}"#,
    ]);
    assert_eq!(
        err(&o).trim(),
        "Error from server (Forbidden): pods \"ghost\" is forbidden: error looking up service account team/nobody: serviceaccount \"nobody\" not found"
    );
    assert_host_untouched(&before);
}

#[test]
fn kubectl_create_token_and_bearer_tokens() {
    let lab = Lab::up(1);
    let unauthorized = "error: You must be logged in to the server (Unauthorized)";
    per_version(lab.kubectls(), |k| {
        let token = k.ok(&args("create token default")).trim().to_string();
        let claims = decode_jwt(&token);
        assert_eq!(claims["sub"], "system:serviceaccount:default:default");
        assert_eq!(
            claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
            3600
        );
        k.ok(&["--token", &token, "get", "pods"]);
        let o = k.run(&args("create token nosuch"));
        assert_eq!(
            err(&o).trim(),
            "error: failed to create token: serviceaccounts \"nosuch\" not found"
        );
    });
    // durations and audiences
    let token = lab.k(&["create", "token", "default", "--duration", "10m"]);
    let c = decode_jwt(token.trim());
    assert_eq!(c["exp"].as_i64().unwrap() - c["iat"].as_i64().unwrap(), 600);
    let o = lab.kubectl(&["create", "token", "default", "--duration", "1m"]);
    assert_eq!(
        err(&o).trim(),
        "error: failed to create token: TokenRequest.authentication.k8s.io \"\" is invalid: spec.expirationSeconds: Invalid value: 60: may not specify a duration less than 10 minutes"
    );
    let vault = lab.k(&["create", "token", "default", "--audience", "vault"]);
    assert_eq!(decode_jwt(vault.trim())["aud"][0], "vault");
    let o = lab.kubectl(&["--token", vault.trim(), "get", "pods"]);
    assert_eq!(err(&o).trim(), unauthorized, "a token for someone else");
    // a tampered token
    let good = lab.k(&["create", "token", "default"]);
    let mut parts: Vec<String> = good.trim().split('.').map(String::from).collect();
    let mut claims = decode_jwt(good.trim());
    claims["sub"] = serde_json::json!("system:serviceaccount:kube-system:admin");
    parts[1] = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(serde_json::to_vec(&claims).unwrap());
    let o = lab.kubectl(&["--token", &parts.join("."), "get", "pods"]);
    assert_eq!(err(&o).trim(), unauthorized);
    assert_eq!(o.status.code(), Some(1));
    // an expired one, signed with the lab's own key
    let signer = kinet_apiserver::tokens::Signer::load_or_create(Path::new(&format!(
        "/var/lib/kinet/{}/pki",
        lab.name
    )))
    .unwrap();
    let sa: serde_json::Value =
        serde_json::from_str(&lab.k(&["get", "sa", "default", "-o", "json"])).unwrap();
    let then = chrono::Utc::now().timestamp() - 7200;
    let mut expired = kinet_apiserver::tokens::Claims {
        namespace: "default".into(),
        service_account: kinet_apiserver::tokens::Ref {
            name: "default".into(),
            uid: sa["metadata"]["uid"].as_str().unwrap().into(),
        },
        audiences: vec![kinet_apiserver::tokens::ISSUER.into()],
        issued_at: then,
        expires: then + 3600,
        id: "expired".into(),
        ..Default::default()
    };
    let o = lab.kubectl(&["--token", &signer.sign(&expired.to_json()), "get", "pods"]);
    assert_eq!(err(&o).trim(), unauthorized, "expired");
    // the same claims, still valid: the key and the claims are right
    expired.expires = then + 3 * 3600;
    let o = lab.kubectl(&["--token", &signer.sign(&expired.to_json()), "get", "pods"]);
    assert!(o.status.success(), "{}", err(&o));
    // bound to a pod: valid while the pod lives
    lab.apply(&busybox_pod("holder", "node1"));
    lab.wait_ready("default", "holder");
    let bound = lab.k(&args(
        "create token default --bound-object-kind Pod --bound-object-name holder",
    ));
    let c = decode_jwt(bound.trim());
    assert_eq!(c["kubernetes.io"]["pod"]["name"], "holder");
    assert!(
        lab.kubectl(&["--token", bound.trim(), "get", "pods"])
            .status
            .success()
    );
    let o = lab.kubectl(&args(
        "create token default --bound-object-kind Pod --bound-object-name nope",
    ));
    assert_eq!(
        err(&o).trim(),
        "error: failed to create token: pods \"nope\" not found"
    );
    lab.k(&["delete", "pod", "holder", "--grace-period=0", "--force"]);
    wait_until(secs(30), || {
        let o = lab.kubectl(&args("get pod holder"));
        if err(&o).contains("NotFound") {
            Ok(())
        } else {
            Err(format!("the pod is still there: {}", out_err(&o)))
        }
    });
    let o = lab.kubectl(&["--token", bound.trim(), "get", "pods"]);
    assert_eq!(err(&o).trim(), unauthorized, "the bound pod is gone");
    // a recreated service account (new uid) invalidates its old tokens
    let uid = |lab: &Lab| out(&lab.kubectl(&args("get sa default -o jsonpath={.metadata.uid}")));
    let old_uid = uid(&lab);
    lab.k(&["delete", "sa", "default"]);
    // whoever comes first, the test or the controller that keeps a default
    // service account in every namespace, makes the new one
    let _ = lab.kubectl(&args("create sa default"));
    wait_until(secs(30), || {
        let now = uid(&lab);
        if !now.is_empty() && now != old_uid {
            Ok(())
        } else {
            Err(format!(
                "the service account is not recreated yet ({now:?})"
            ))
        }
    });
    let o = lab.kubectl(&["--token", good.trim(), "get", "pods"]);
    assert_eq!(
        err(&o).trim(),
        unauthorized,
        "the service account was recreated"
    );
}

#[test]
fn a_missing_config_map_holds_the_pod_until_it_exists() {
    let before = host_state();
    let lab = Lab::up(1);
    lab.apply(
        r#"apiVersion: v1
kind: Pod
metadata: {name: late}
spec:
  containers:
  - name: c
    image: busybox:1.36
    command: ["sleep", "infinity"]
    volumeMounts:
    - {name: cfg, mountPath: /etc/late}
  volumes:
  - {name: cfg, configMap: {name: later}}
"#,
    );
    wait_until(secs(30), || {
        let ev = lab.k(&args(
            "get events --field-selector involvedObject.name=late,reason=FailedMount -o jsonpath={.items[*].message}",
        ));
        if ev.is_empty() {
            Err("no FailedMount event".into())
        } else {
            Ok(())
        }
    });
    let ev = lab.k(&[
        "get",
        "events",
        "--field-selector",
        "involvedObject.name=late,reason=FailedMount",
        "-o",
        "jsonpath={.items[0].type} {.items[0].source.component} {.items[0].message}",
    ]);
    assert_eq!(
        ev,
        "Warning kubelet MountVolume.SetUp failed for volume \"cfg\" : configmap \"later\" not found"
    );
    let table = lab.k(&["get", "pod", "late", "--no-headers"]);
    let cols: Vec<&str> = table.split_whitespace().collect();
    assert_eq!(&cols[1..3], ["0/1", "ContainerCreating"], "{table}");
    assert_eq!(
        lab.k(&["get", "pod", "late", "-o", "jsonpath={.status.podIP}"]),
        "",
        "no sandbox yet"
    );
    assert_contains(lab.k(&args("describe pod late")), "FailedMount");
    lab.k(&args(
        "create configmap later --from-literal=greeting=hello",
    ));
    lab.wait_ready("default", "late");
    assert_eq!(
        lab.k(&["exec", "late", "--", "cat", "/etc/late/greeting"]),
        "hello"
    );
    assert_host_untouched(&before);
}
