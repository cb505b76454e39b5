//! Tests: protobuf bodies hand-built the way Go's generated marshallers write them
//! (value fields always present, zero or not; pointer fields only when set).

use super::*;
use serde_json::json;

/// A tiny protobuf encoder.
#[derive(Default, Clone)]
struct Enc(Vec<u8>);

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

impl Enc {
    fn new() -> Self {
        Enc(Vec::new())
    }
    fn key(mut self, num: u32, wire_type: u8) -> Self {
        put_varint(&mut self.0, (u64::from(num) << 3) | u64::from(wire_type));
        self
    }
    fn varint(self, num: u32, v: u64) -> Self {
        let mut s = self.key(num, 0);
        put_varint(&mut s.0, v);
        s
    }
    fn int(self, num: u32, v: i64) -> Self {
        self.varint(num, v as u64)
    }
    fn boolean(self, num: u32, v: bool) -> Self {
        self.varint(num, u64::from(v))
    }
    fn bytes(self, num: u32, b: &[u8]) -> Self {
        let mut s = self.key(num, 2);
        put_varint(&mut s.0, b.len() as u64);
        s.0.extend_from_slice(b);
        s
    }
    fn str(self, num: u32, v: &str) -> Self {
        self.bytes(num, v.as_bytes())
    }
    fn msg(self, num: u32, m: Enc) -> Self {
        self.bytes(num, &m.0)
    }
    /// A map<string, string> entry.
    fn entry(self, num: u32, k: &str, v: &str) -> Self {
        self.msg(num, Enc::new().str(1, k).str(2, v))
    }
    fn fixed64(self, num: u32, v: u64) -> Self {
        let mut s = self.key(num, 1);
        s.0.extend_from_slice(&v.to_le_bytes());
        s
    }
}

/// "k8s\0" + runtime.Unknown{typeMeta, raw, contentEncoding "", contentType ""}.
fn envelope(api_version: &str, kind: &str, obj: Enc) -> Vec<u8> {
    let unknown = Enc::new()
        .msg(1, Enc::new().str(1, api_version).str(2, kind))
        .msg(2, obj)
        .str(3, "")
        .str(4, "");
    let mut out = b"k8s\0".to_vec();
    out.extend_from_slice(&unknown.0);
    out
}

/// ObjectMeta as Go writes it: all value fields, an empty creationTimestamp, labels.
fn object_meta(name: &str, namespace: &str, labels: &[(&str, &str)]) -> Enc {
    let mut m = Enc::new()
        .str(1, name)
        .str(2, "")
        .str(3, namespace)
        .str(4, "")
        .str(5, "")
        .str(6, "")
        .int(7, 0)
        .msg(8, Enc::new());
    for (k, v) in labels {
        m = m.entry(11, k, v);
    }
    m
}

/// IntOrString{type, intVal, strVal} with all three fields, as Go writes it.
fn int_or_string_int(v: i32) -> Enc {
    Enc::new().int(1, 0).int(2, i64::from(v)).str(3, "")
}
fn int_or_string_str(v: &str) -> Enc {
    Enc::new().int(1, 1).int(2, 0).str(3, v)
}

/// A Container with only name/image/ports set; the other value fields zero.
fn container(name: &str, image: &str, ports: &[i32]) -> Enc {
    let mut c = Enc::new().str(1, name).str(2, image).str(5, "");
    for p in ports {
        let port = Enc::new()
            .str(1, "")
            .int(2, 0)
            .int(3, i64::from(*p))
            .str(4, "")
            .str(5, "");
        c = c.msg(6, port);
    }
    c.msg(8, Enc::new())
        .str(13, "")
        .str(14, "")
        .boolean(16, false)
        .boolean(17, false)
        .boolean(18, false)
        .str(20, "")
}

/// A PodSpec with containers, restartPolicy and dnsPolicy; the other value fields zero.
fn pod_spec(containers: Vec<Enc>, restart: &str, dns: &str) -> Enc {
    let mut s = Enc::new();
    for c in containers {
        s = s.msg(2, c);
    }
    s.str(3, restart)
        .str(6, dns)
        .str(8, "")
        .str(9, "")
        .str(10, "")
        .boolean(11, false)
        .boolean(12, false)
        .boolean(13, false)
        .str(16, "")
        .str(17, "")
        .str(19, "")
        .str(24, "")
}

fn text(v: &Value) -> String {
    serde_json::to_string(v).unwrap()
}

#[test]
fn content_type_detection() {
    assert!(is_protobuf("application/vnd.kubernetes.protobuf"));
    assert!(is_protobuf(
        "application/vnd.kubernetes.protobuf; charset=utf-8"
    ));
    assert!(is_protobuf(
        "Application/VND.Kubernetes.Protobuf;stream=watch"
    ));
    assert!(!is_protobuf("application/json"));
    assert!(!is_protobuf("application/vnd.kubernetes.protobuf+json"));
    assert!(!is_protobuf(""));
}

#[test]
fn namespace() {
    let ns = Enc::new()
        .msg(1, object_meta("x", "", &[]))
        .msg(2, Enc::new())
        .msg(3, Enc::new().str(1, ""));
    let got = decode(&envelope("v1", "Namespace", ns)).unwrap();
    // Byte-for-byte what kubectl sends with JSON for `kubectl create namespace x`.
    assert_eq!(
        text(&got),
        r#"{"kind":"Namespace","apiVersion":"v1","metadata":{"name":"x","creationTimestamp":null},"spec":{},"status":{}}"#
    );
}

#[test]
fn configmap_with_data_and_binary_data() {
    let cm = Enc::new()
        .msg(1, object_meta("cm", "default", &[]))
        .entry(2, "a", "1")
        .entry(2, "empty", "")
        .msg(3, Enc::new().str(1, "bin").bytes(2, &[0, 1, 2, 0xff]))
        .msg(3, Enc::new().str(1, "two").bytes(2, b"hi!?"));
    let got = decode(&envelope("v1", "ConfigMap", cm)).unwrap();
    let want = json!({
        "kind": "ConfigMap",
        "apiVersion": "v1",
        "metadata": {"name": "cm", "namespace": "default", "creationTimestamp": null},
        "data": {"a": "1", "empty": ""},
        "binaryData": {"bin": "AAEC/w==", "two": "aGkhPw=="}
    });
    assert_eq!(got, want);
    assert_eq!(text(&got), text(&want));
}

#[test]
fn secret() {
    let secret = Enc::new()
        .msg(1, object_meta("s", "default", &[]))
        .msg(2, Enc::new().str(1, "password").bytes(2, b"s3cr3t"))
        .msg(2, Enc::new().str(1, "k"))
        .str(3, "Opaque");
    let got = decode(&envelope("v1", "Secret", secret)).unwrap();
    assert_eq!(
        text(&got),
        r#"{"kind":"Secret","apiVersion":"v1","metadata":{"name":"s","namespace":"default","creationTimestamp":null},"data":{"password":"czNjcjN0","k":""},"type":"Opaque"}"#
    );
}

#[test]
fn pod_from_kubectl_run() {
    // kubectl run web --image=nginx --port=80 --labels=app=web
    let status = Enc::new()
        .str(1, "")
        .str(3, "")
        .str(4, "")
        .str(5, "")
        .str(6, "")
        .str(9, "")
        .str(11, "");
    let pod = Enc::new()
        .msg(1, object_meta("web", "", &[("app", "web")]))
        .msg(
            2,
            pod_spec(
                vec![container("web", "nginx", &[80])],
                "Always",
                "ClusterFirst",
            ),
        )
        .msg(3, status);
    let got = decode(&envelope("v1", "Pod", pod)).unwrap();
    // What kubectl 1.31 sent as JSON for the same command.
    assert_eq!(
        text(&got),
        r#"{"kind":"Pod","apiVersion":"v1","metadata":{"name":"web","creationTimestamp":null,"labels":{"app":"web"}},"spec":{"containers":[{"name":"web","image":"nginx","ports":[{"containerPort":80}],"resources":{}}],"restartPolicy":"Always","dnsPolicy":"ClusterFirst"},"status":{}}"#
    );
}

#[test]
fn deployment_with_int_or_string_and_creation_timestamp() {
    let mut meta = object_meta("web", "", &[("app", "web")]);
    // Replace the empty creationTimestamp: a later occurrence of an embedded message
    // merges into the earlier one, so seconds/nanos set here win.
    meta = meta.msg(8, Enc::new().int(1, 1_767_225_600).int(2, 123));
    let template = Enc::new()
        .msg(1, object_meta("", "", &[("app", "web")]))
        .msg(2, pod_spec(vec![container("nginx", "nginx", &[])], "", ""));
    let strategy = Enc::new().str(1, "RollingUpdate").msg(
        2,
        Enc::new()
            .msg(1, int_or_string_int(0))
            .msg(2, int_or_string_str("25%")),
    );
    let spec = Enc::new()
        .int(1, 1)
        .msg(2, Enc::new().entry(1, "app", "web"))
        .msg(3, template)
        .msg(4, strategy)
        .int(5, 0)
        .boolean(7, false);
    let status = Enc::new()
        .int(1, 0)
        .int(2, 0)
        .int(3, 0)
        .int(4, 0)
        .int(5, 0)
        .int(7, 0);
    let d = Enc::new().msg(1, meta).msg(2, spec).msg(3, status);
    let got = decode(&envelope("apps/v1", "Deployment", d)).unwrap();
    assert_eq!(
        text(&got),
        r#"{"kind":"Deployment","apiVersion":"apps/v1","metadata":{"name":"web","creationTimestamp":"2026-01-01T00:00:00Z","labels":{"app":"web"}},"spec":{"replicas":1,"selector":{"matchLabels":{"app":"web"}},"template":{"metadata":{"creationTimestamp":null,"labels":{"app":"web"}},"spec":{"containers":[{"name":"nginx","image":"nginx","resources":{}}]}},"strategy":{"type":"RollingUpdate","rollingUpdate":{"maxUnavailable":0,"maxSurge":"25%"}}},"status":{}}"#
    );
}

#[test]
fn pointer_and_required_zero_values_are_kept() {
    // replicas is *int32: an explicit 0 (kubectl create deployment --replicas=0) stays;
    // minReadySeconds is a plain omitempty int32: 0 is dropped.
    let spec = Enc::new().int(1, 0).int(5, 0);
    let d = Enc::new().msg(2, spec);
    let got = decode(&envelope("apps/v1", "Deployment", d)).unwrap();
    assert_eq!(got["spec"], json!({"replicas": 0}));

    // ConfigMap.immutable is *bool.
    let cm = Enc::new().boolean(4, false);
    let got = decode(&envelope("v1", "ConfigMap", cm)).unwrap();
    assert_eq!(got["immutable"], json!(false));

    // Volume.name has no omitempty: an empty name stays.
    let spec = Enc::new().msg(1, Enc::new().str(1, ""));
    let pod = Enc::new().msg(2, spec);
    let got = decode(&envelope("v1", "Pod", pod)).unwrap();
    assert_eq!(got["spec"]["volumes"], json!([{"name": ""}]));
}

#[test]
fn eviction_and_delete_options() {
    // kubectl drain / kubectl delete --grace-period=0: gracePeriodSeconds is *int64.
    let opts = Enc::new().int(1, 0).str(4, "Background").str(5, "All");
    let ev = Enc::new()
        .msg(1, object_meta("web", "default", &[]))
        .msg(2, opts.clone());
    let got = decode(&envelope("policy/v1", "Eviction", ev)).unwrap();
    assert_eq!(
        text(&got),
        r#"{"kind":"Eviction","apiVersion":"policy/v1","metadata":{"name":"web","namespace":"default","creationTimestamp":null},"deleteOptions":{"gracePeriodSeconds":0,"propagationPolicy":"Background","dryRun":["All"]}}"#
    );
    // DeleteOptions travel with the resource's group version.
    for gv in ["v1", "apps/v1", "meta.k8s.io/v1"] {
        let got = decode(&envelope(gv, "DeleteOptions", opts.clone())).unwrap();
        assert_eq!(got["apiVersion"], json!(gv));
        assert_eq!(got["gracePeriodSeconds"], json!(0));
    }
}

#[test]
fn service_with_int_or_string_target_port_and_inline_fields() {
    let port = Enc::new()
        .str(1, "")
        .str(2, "TCP")
        .int(3, 80)
        .msg(4, int_or_string_str("http"))
        .int(5, 0);
    let spec = Enc::new()
        .msg(1, port)
        .entry(2, "app", "web")
        .str(4, "ClusterIP");
    let svc = Enc::new().msg(1, object_meta("web", "", &[])).msg(2, spec);
    let got = decode(&envelope("v1", "Service", svc)).unwrap();
    assert_eq!(
        got["spec"],
        json!({"ports": [{"protocol": "TCP", "port": 80, "targetPort": "http"}],
               "selector": {"app": "web"}, "type": "ClusterIP"})
    );

    // Probe.handler (ProbeHandler) and ConfigMapEnvSource.localObjectReference are inlined.
    let probe = Enc::new()
        .msg(
            1,
            Enc::new().msg(
                2,
                Enc::new()
                    .str(1, "/healthz")
                    .msg(2, int_or_string_int(8080)),
            ),
        )
        .int(2, 5);
    let env_from = Enc::new().msg(2, Enc::new().msg(1, Enc::new().str(1, "cfg")));
    let c = Enc::new().str(1, "app").msg(19, env_from).msg(10, probe);
    let pod = Enc::new().msg(2, Enc::new().msg(2, c));
    let got = decode(&envelope("v1", "Pod", pod)).unwrap();
    assert_eq!(
        got["spec"]["containers"][0],
        json!({"name": "app",
               "envFrom": [{"configMapRef": {"name": "cfg"}}],
               "livenessProbe": {"httpGet": {"path": "/healthz", "port": 8080},
                                 "initialDelaySeconds": 5}})
    );
}

#[test]
fn special_types() {
    // MicroTime keeps microseconds (truncated), Time drops sub-seconds; zero → null.
    let ev = Enc::new()
        .msg(1, object_meta("e", "default", &[]))
        .msg(2, Enc::new().int(1, 1_767_225_600).int(2, 1_999_999))
        .msg(
            3,
            Enc::new()
                .int(1, 2)
                .msg(2, Enc::new().int(1, 1_767_225_661)),
        )
        .msg(13, Enc::new().int(1, 1_767_225_600).int(2, 1_999_999_999))
        .msg(14, Enc::new());
    let got = decode(&envelope("events.k8s.io/v1", "Event", ev)).unwrap();
    assert_eq!(got["eventTime"], json!("2026-01-01T00:00:00.001999Z"));
    assert_eq!(
        got["series"],
        json!({"count": 2, "lastObservedTime": "2026-01-01T00:01:01.000000Z"})
    );
    assert_eq!(
        got["deprecatedFirstTimestamp"],
        json!("2026-01-01T00:00:00Z")
    );
    assert_eq!(got["deprecatedLastTimestamp"], Value::Null);
    assert!(
        got.as_object()
            .unwrap()
            .contains_key("deprecatedLastTimestamp")
    );
    // Go's zero time (0001-01-01T00:00:00Z) written with explicit seconds is null too.
    let ev = Enc::new().msg(13, Enc::new().int(1, -62_135_596_800));
    let got = decode(&envelope("events.k8s.io/v1", "Event", ev)).unwrap();
    assert_eq!(got["deprecatedFirstTimestamp"], Value::Null);
    let ev = Enc::new().msg(13, Enc::new().int(1, -62_135_596_799));
    let got = decode(&envelope("events.k8s.io/v1", "Event", ev)).unwrap();
    assert_eq!(
        got["deprecatedFirstTimestamp"],
        json!("0001-01-01T00:00:01Z")
    );

    let ev = Enc::new().msg(2, Enc::new()).msg(3, Enc::new().int(1, 0));
    let got = decode(&envelope("events.k8s.io/v1", "Event", ev)).unwrap();
    assert_eq!(
        text(&got),
        r#"{"kind":"Event","apiVersion":"events.k8s.io/v1","eventTime":null,"series":{"count":0}}"#
    );

    // Quantity strings, ResourceList maps.
    let res = Enc::new()
        .msg(
            1,
            Enc::new().str(1, "cpu").msg(2, Enc::new().str(1, "500m")),
        )
        .msg(
            2,
            Enc::new()
                .str(1, "memory")
                .msg(2, Enc::new().str(1, "64Mi")),
        )
        .msg(2, Enc::new().str(1, "empty").msg(2, Enc::new()));
    let pod = Enc::new().msg(2, Enc::new().msg(2, Enc::new().str(1, "c").msg(8, res)));
    let got = decode(&envelope("v1", "Pod", pod)).unwrap();
    assert_eq!(
        got["spec"]["containers"][0]["resources"],
        json!({"limits": {"cpu": "500m"}, "requests": {"memory": "64Mi", "empty": "0"}})
    );

    // RawExtension carries JSON (ControllerRevision.data, List.items).
    let list = Enc::new().msg(2, Enc::new().bytes(1, br#"{"kind":"Pod","a":[1]}"#));
    let got = decode(&envelope("v1", "List", list)).unwrap();
    assert_eq!(got["items"], json!([{"kind": "Pod", "a": [1]}]));

    // Duration (autoscaling/v2 has none; meta/v1 Duration is used by few kinds).
    assert_eq!(go_duration(0), "0s");
    assert_eq!(go_duration(1_500_000_000), "1.5s");
    assert_eq!(go_duration(3_600_000_000_000), "1h0m0s");
    assert_eq!(go_duration(90_000_000_000), "1m30s");
    assert_eq!(go_duration(1_500_000), "1.5ms");
    assert_eq!(go_duration(2_000), "2µs");
    assert_eq!(go_duration(7), "7ns");
    assert_eq!(go_duration(-61_000_000_001), "-1m1.000000001s");
    let dur = message_value("meta.v1.Duration", &Enc::new().int(1, 300_000_000_000).0, 0);
    assert_eq!(dur.unwrap(), json!("5m0s"));
}

#[test]
fn wire_details() {
    // Unknown fields (any wire type) are skipped.
    let mut sc = Enc::new()
        .int(99, 7)
        .fixed64(98, 1)
        .str(97, "zzz")
        .int(2, 2000)
        .key(96, 5);
    sc.0.extend_from_slice(&[1, 2, 3, 4]);
    let got = decode(&envelope(
        "v1",
        "Pod",
        Enc::new().msg(2, Enc::new().msg(14, sc)),
    ))
    .unwrap();
    assert_eq!(got["spec"]["securityContext"], json!({"runAsUser": 2000}));

    // supplementalGroups (repeated int64), packed and unpacked.
    let mut packed = Vec::new();
    for v in [1000u64, 2000] {
        put_varint(&mut packed, v);
    }
    let psc = Enc::new().bytes(4, &packed).int(4, 3000);
    let got = decode(&envelope(
        "v1",
        "Pod",
        Enc::new().msg(2, Enc::new().msg(14, psc)),
    ))
    .unwrap();
    assert_eq!(
        got["spec"]["securityContext"],
        json!({"supplementalGroups": [1000, 2000, 3000]})
    );

    // int32 -1 (10-byte varint).
    let got = decode(&envelope(
        "v1",
        "Pod",
        Enc::new().msg(2, Enc::new().int(25, -1)),
    ))
    .unwrap();
    assert_eq!(got["spec"]["priority"], json!(-1));
}

#[test]
fn json_payload_inside_the_envelope() {
    let unknown = Enc::new()
        .msg(1, Enc::new().str(1, "v1").str(2, "ConfigMap"))
        .bytes(2, br#"{"metadata":{"name":"j"},"data":{"a":"b"}}"#)
        .str(4, "application/json");
    let mut body = b"k8s\0".to_vec();
    body.extend_from_slice(&unknown.0);
    assert_eq!(
        text(&decode(&body).unwrap()),
        r#"{"kind":"ConfigMap","apiVersion":"v1","metadata":{"name":"j"},"data":{"a":"b"}}"#
    );
    // A content encoding (e.g. gzip) is not supported.
    let unknown = Enc::new()
        .msg(1, Enc::new().str(1, "v1").str(2, "ConfigMap"))
        .str(3, "gzip");
    let mut body = b"k8s\0".to_vec();
    body.extend_from_slice(&unknown.0);
    assert!(decode(&body).unwrap_err().contains("gzip"));
}

#[test]
fn errors() {
    let err = decode(&envelope("v1", "Frobnicator", Enc::new())).unwrap_err();
    assert!(err.contains("Frobnicator"), "{err}");
    let err = decode(&envelope("example.com/v1", "Widget", Enc::new())).unwrap_err();
    assert!(err.contains("Widget"), "{err}");
    // A message that is not a kind.
    let err = decode(&envelope("v1", "PodSpec", Enc::new())).unwrap_err();
    assert!(err.contains("PodSpec"), "{err}");

    assert!(
        decode(b"{\"kind\":\"Pod\"}")
            .unwrap_err()
            .contains("prefix")
    );
    assert!(decode(b"k8s\0").is_err());
    let mut body = envelope(
        "v1",
        "Namespace",
        Enc::new().msg(1, object_meta("x", "", &[])),
    );
    body.truncate(body.len() - 3);
    assert!(decode(&body).is_err());
    // Wrong wire type for a known field.
    let err = decode(&envelope("v1", "Namespace", Enc::new().int(1, 5))).unwrap_err();
    assert!(err.contains("metadata"), "{err}");
    // Missing kind.
    let mut body = b"k8s\0".to_vec();
    body.extend(Enc::new().msg(1, Enc::new().str(1, "v1")).0);
    assert!(decode(&body).unwrap_err().contains("kind"));
}

#[test]
fn schema_table_is_consistent() {
    let schema = Schema::get();
    let mut count = 0;
    for m in schema.messages() {
        count += 1;
        let mut nums = std::collections::HashSet::new();
        for f in &m.fields {
            assert!(nums.insert(f.num), "{}: duplicate field {}", m.name, f.num);
            if let Type::Message(name) = f.ty {
                assert!(
                    schema.message(name).is_some(),
                    "{}.{} → {name}",
                    m.name,
                    f.json
                );
            }
            assert!(!(f.inline && f.repeated), "{}.{}", m.name, f.json);
        }
    }
    assert!(count > 300, "only {count} messages");
    // Every kind the brief names resolves.
    for (gv, kind) in [
        ("v1", "Namespace"),
        ("v1", "ConfigMap"),
        ("v1", "Secret"),
        ("v1", "ServiceAccount"),
        ("v1", "Pod"),
        ("v1", "Service"),
        ("v1", "Endpoints"),
        ("v1", "Event"),
        ("v1", "Binding"),
        ("apps/v1", "Deployment"),
        ("apps/v1", "ReplicaSet"),
        ("apps/v1", "StatefulSet"),
        ("apps/v1", "DaemonSet"),
        ("batch/v1", "Job"),
        ("batch/v1", "CronJob"),
        ("networking.k8s.io/v1", "Ingress"),
        ("networking.k8s.io/v1", "IngressClass"),
        ("networking.k8s.io/v1", "NetworkPolicy"),
        ("discovery.k8s.io/v1", "EndpointSlice"),
        ("coordination.k8s.io/v1", "Lease"),
        ("policy/v1", "Eviction"),
        ("policy/v1", "PodDisruptionBudget"),
        ("autoscaling/v1", "Scale"),
        ("v1", "DeleteOptions"),
        ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"),
        ("authentication.k8s.io/v1", "TokenRequest"),
    ] {
        assert!(kind_message(gv, kind).is_ok(), "{gv} {kind}");
    }
    // Spot checks against upstream generated.proto / Go json tags.
    let cp = schema.message("core.v1.ContainerPort").unwrap();
    let (_, f) = cp.field(3).unwrap();
    assert_eq!((f.json, f.keep), ("containerPort", true));
    let icp = schema
        .message("networking.v1.IngressClassParametersReference")
        .unwrap();
    assert_eq!(icp.field(1).unwrap().1.json, "apiGroup"); // proto name is aPIGroup
}

#[test]
fn base64_matches_go() {
    assert_eq!(crate::secret::encode(b""), "");
    assert_eq!(crate::secret::encode(b"f"), "Zg==");
    assert_eq!(crate::secret::encode(b"fo"), "Zm8=");
    assert_eq!(crate::secret::encode(b"foo"), "Zm9v");
    assert_eq!(crate::secret::encode(&[0xfb, 0xff]), "+/8=");
}
