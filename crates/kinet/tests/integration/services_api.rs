//! Services in the API with the real kubectl: `create service`, `expose`, the
//! `get svc` columns, `describe svc`, type changes by patch, ClusterIP and
//! NodePort allocation with upstream's refusals, reuse after delete and after a
//! daemon restart. (Endpoints are another module's.)

use crate::common::*;

/// The value of `Field:` in `kubectl describe` output (first occurrence).
fn described<'a>(text: &'a str, field: &str) -> &'a str {
    let prefix = format!("{field}:");
    text.lines()
        .find_map(|l| l.strip_prefix(prefix.as_str()))
        .map(str::trim)
        .unwrap_or_else(|| panic!("no {field:?} in:\n{text}"))
}

/// The cells of `kubectl get svc NAME` (no header).
fn row(table: &str) -> Vec<String> {
    let mut lines = table.lines();
    let header: Vec<&str> = lines.next().unwrap_or("").split_whitespace().collect();
    assert_eq!(
        &header[..6],
        [
            "NAME",
            "TYPE",
            "CLUSTER-IP",
            "EXTERNAL-IP",
            "PORT(S)",
            "AGE"
        ],
        "{table}"
    );
    lines
        .next()
        .unwrap_or("")
        .split_whitespace()
        .map(String::from)
        .collect()
}

fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> String {
    let p = dir.path().join(name);
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

fn svc_yaml(name: &str, cluster_ip: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: {name}\nspec:\n  clusterIP: {cluster_ip}\n  selector:\n    app: x\n  ports:\n  - port: 80\n"
    )
}

#[test]
fn every_kubectl_creates_services_of_each_type() {
    let lab = Lab::up(1);
    per_version(lab.kubectls(), |k| {
        let v = k.version.replace('.', "-");
        let minor: u32 = k.version.trim_start_matches("1.").parse().unwrap();
        let c = format!("c{v}");
        assert_eq!(
            k.ok(&args(&format!(
                "create service clusterip {c} --tcp=80:8080"
            )))
            .trim(),
            format!("service/{c} created")
        );
        let r = row(&k.ok(&args(&format!("get svc {c}"))));
        assert_eq!(r[1], "ClusterIP");
        assert!(r[2].starts_with("10.152.183."), "{r:?}");
        assert_ne!(r[2], "10.152.183.10", "the DNS address is kept");
        assert_eq!(&r[3..5], ["<none>", "80/TCP"]);

        let n = format!("n{v}");
        // in the static band (30000-30085), where automatic picks go last
        let np = 30000 + minor;
        k.ok(&args(&format!(
            "create service nodeport {n} --tcp=80:8080 --node-port={np}"
        )));
        let r = row(&k.ok(&args(&format!("get svc {n}"))));
        assert_eq!(r[1], "NodePort");
        assert_eq!(&r[3..5], ["<none>".to_string(), format!("80:{np}/TCP")]);

        let l = format!("l{v}");
        k.ok(&args(&format!("create service loadbalancer {l} --tcp=80")));
        let r = row(&k.ok(&args(&format!("get svc {l}"))));
        assert_eq!(r[1], "LoadBalancer");
        assert_eq!(r[3], "<pending>");
        assert!(r[4].starts_with("80:3") && r[4].ends_with("/TCP"), "{r:?}");

        let e = format!("e{v}");
        k.ok(&args(&format!(
            "create service externalname {e} --external-name=example.org"
        )));
        let r = row(&k.ok(&args(&format!("get svc {e}"))));
        assert_eq!(&r[1..4], ["ExternalName", "<none>", "example.org"]);

        // a taken node port, as kubectl prints the refusal
        let err = assert_fails(&k.run(&args(&format!(
            "create service nodeport x{v} --tcp=80 --node-port={np}"
        ))));
        assert_contains(
            &err,
            format!(
                "Service \"x{v}\" is invalid: spec.ports[0].nodePort: Invalid value: {np}: provided port is already allocated"
            ),
        );
    });
}

#[test]
fn expose_patch_describe_and_allocation() {
    let lab = Lab::up(1);
    let dir = tempfile::tempdir().unwrap();
    lab.k(&args("create deployment web --image=nginx --port=80"));
    assert_eq!(
        lab.k(&args(
            "expose deploy web --port=80 --target-port=8080 --name=web-svc"
        ))
        .trim(),
        "service/web-svc exposed"
    );
    let wide = lab.k(&args("get svc web-svc -o wide"));
    assert_contains(&wide, "SELECTOR");
    assert_contains(&wide, "app=web");
    let ip = lab.k(&args("get svc web-svc -o jsonpath={.spec.clusterIP}"));
    assert!(ip.starts_with("10.152.183."), "{ip}");
    assert_eq!(
        lab.k(&args("get svc web-svc -o jsonpath={.spec.clusterIPs[0]}")),
        ip
    );

    let d = lab.k(&args("describe svc web-svc"));
    assert_eq!(described(&d, "Type"), "ClusterIP");
    assert_eq!(described(&d, "IP Family Policy"), "SingleStack");
    assert_eq!(described(&d, "IP Families"), "IPv4");
    assert_eq!(described(&d, "IP"), ip);
    assert_eq!(described(&d, "IPs"), ip);
    assert_eq!(described(&d, "Port"), "<unset>  80/TCP");
    assert_eq!(described(&d, "TargetPort"), "8080/TCP");
    assert_eq!(described(&d, "Session Affinity"), "None");

    // ClusterIP -> NodePort with Local traffic: a node port comes, the address stays
    assert_eq!(
        lab.k(&[
            "patch",
            "svc",
            "web-svc",
            "-p",
            r#"{"spec":{"type":"NodePort","externalTrafficPolicy":"Local"}}"#
        ])
        .trim(),
        "service/web-svc patched"
    );
    let np = lab.k(&args(
        "get svc web-svc -o jsonpath={.spec.ports[0].nodePort}",
    ));
    let n: u16 = np.parse().unwrap_or_else(|_| panic!("a node port: {np:?}"));
    assert!((30000..=32767).contains(&n));
    assert_eq!(
        lab.k(&args("get svc web-svc -o jsonpath={.spec.clusterIP}")),
        ip
    );
    let r = row(&lab.k(&args("get svc web-svc")));
    assert_eq!(r[4], format!("80:{np}/TCP"));
    let d = lab.k(&args("describe svc web-svc"));
    assert_eq!(described(&d, "NodePort"), format!("<unset>  {np}/TCP"));
    assert_eq!(described(&d, "External Traffic Policy"), "Local");

    // the node port is taken for others
    let err = assert_fails(&lab.kubectl(&args(&format!(
        "create service nodeport dup --tcp=80 --node-port={np}"
    ))));
    assert_contains(
        &err,
        format!("spec.ports[0].nodePort: Invalid value: {np}: provided port is already allocated"),
    );
    let err =
        assert_fails(&lab.kubectl(&args("create service nodeport low --tcp=80 --node-port=80")));
    assert_contains(
        &err,
        "spec.ports[0].nodePort: Invalid value: 80: provided port is not in the valid range. The range of valid ports is 30000-32767",
    );

    // back to ClusterIP: the node port and the external policy go, and the port is free again
    lab.k(&[
        "patch",
        "svc",
        "web-svc",
        "-p",
        r#"{"spec":{"type":"ClusterIP"}}"#,
    ]);
    assert_eq!(
        lab.k(&args(
            "get svc web-svc -o jsonpath={.spec.ports[0].nodePort}"
        )),
        ""
    );
    assert_eq!(
        lab.k(&args(
            "get svc web-svc -o jsonpath={.spec.externalTrafficPolicy}"
        )),
        ""
    );
    lab.k(&args(&format!(
        "create service nodeport dup --tcp=80 --node-port={np}"
    )));

    // the ClusterIP may not change
    let err = assert_fails(&lab.kubectl(&[
        "patch",
        "svc",
        "web-svc",
        "-p",
        r#"{"spec":{"clusterIP":"10.152.183.222"}}"#,
    ]));
    assert_contains(
        &err,
        "spec.clusterIPs[0]: Invalid value: []string{\"10.152.183.222\"}: may not change once set",
    );

    // requested addresses: taken, out of range, reusable after delete
    let f = write(&dir, "taken.yaml", &svc_yaml("taken", "10.152.183.1"));
    let err = assert_fails(&lab.kubectl(&args(&format!("apply -f {f}"))));
    assert_contains(
        &err,
        "The Service \"taken\" is invalid: spec.clusterIPs: Invalid value: []string{\"10.152.183.1\"}: failed to allocate IP 10.152.183.1: provided IP is already allocated",
    );
    let f = write(&dir, "far.yaml", &svc_yaml("far", "10.96.0.10"));
    let err = assert_fails(&lab.kubectl(&args(&format!("apply -f {f}"))));
    assert_contains(
        &err,
        "failed to allocate IP 10.96.0.10: the provided IP (10.96.0.10) is not in the valid range. The range of valid IPs is 10.152.183.0/24",
    );
    // .12 sits in the static band, where automatic picks come last, so no
    // Service made above can hold it by chance
    let f = write(&dir, "fixed.yaml", &svc_yaml("fixed", "10.152.183.12"));
    lab.k(&args(&format!("apply -f {f}")));
    let f2 = write(&dir, "fixed2.yaml", &svc_yaml("fixed2", "10.152.183.12"));
    assert_fails(&lab.kubectl(&args(&format!("apply -f {f2}"))));
    lab.k(&args("delete svc fixed"));
    lab.k(&args(&format!("apply -f {f2}")));

    // a NodePort Service made by expose
    lab.k(&args(
        "expose deploy web --port=80 --type=NodePort --name=web-np",
    ));
    let web_np = lab.k(&args(
        "get svc web-np -o jsonpath={.spec.ports[0].nodePort}",
    ));
    assert_contains(lab.k(&args("get svc web-np")), format!("80:{web_np}/TCP"));

    // after a restart, what the store holds is still allocated
    lab.crash_daemon();
    assert_ok(&lab.kinet(&args("up --no-kubeconfig")));
    let err = assert_fails(&lab.kubectl(&args(&format!(
        "create service nodeport again --tcp=80 --node-port={web_np}"
    ))));
    assert_contains(&err, "provided port is already allocated");
    let f3 = write(&dir, "fixed3.yaml", &svc_yaml("fixed3", "10.152.183.12"));
    let err = assert_fails(&lab.kubectl(&args(&format!("apply -f {f3}"))));
    assert_contains(&err, "provided IP is already allocated");
    lab.k(&args("create service clusterip fresh --tcp=80"));
    let fresh = lab.k(&args("get svc fresh -o jsonpath={.spec.clusterIP}"));
    let all = lab.k(&args("get svc -A -o jsonpath={.items[*].spec.clusterIP}"));
    assert_eq!(
        all.split_whitespace().filter(|l| *l == fresh).count(),
        1,
        "{fresh} shared:\n{all}"
    );
}
