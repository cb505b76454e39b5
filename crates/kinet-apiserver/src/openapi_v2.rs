//! GET /openapi/v2 as kubectl 1.27 and 1.28 read it: a gnostic `openapi_v2.Document`
//! in protobuf, listing each resource's PATCH operation with its group-version-kind
//! and the query parameters the server honours, so kubectl leaves field validation
//! to the server and computes apply patches from its compiled-in types.

use kinet_model::resources;

/// A minimal protobuf writer (length-delimited fields and strings are all this needs).
#[derive(Default)]
struct Msg(Vec<u8>);

impl Msg {
    fn varint(&mut self, mut v: u64) {
        loop {
            let b = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                self.0.push(b);
                return;
            }
            self.0.push(b | 0x80);
        }
    }
    fn bytes(&mut self, field: u32, data: &[u8]) -> &mut Self {
        self.varint(((field as u64) << 3) | 2);
        self.varint(data.len() as u64);
        self.0.extend_from_slice(data);
        self
    }
    fn string(&mut self, field: u32, s: &str) -> &mut Self {
        self.bytes(field, s.as_bytes())
    }
    fn msg(&mut self, field: u32, m: &Msg) -> &mut Self {
        self.bytes(field, &m.0)
    }
}

fn query_param(name: &str) -> Msg {
    // ParametersItem{parameter=1: Parameter{non_body_parameter=2: NonBodyParameter{
    //   query_parameter_sub_schema=3: QueryParameterSubSchema{in=2, name=4, type=6}}}}
    let mut q = Msg::default();
    q.string(2, "query").string(4, name).string(6, "string");
    let mut nb = Msg::default();
    nb.msg(3, &q);
    let mut p = Msg::default();
    p.msg(2, &nb);
    let mut item = Msg::default();
    item.msg(1, &p);
    item
}

fn gvk_extension(group: &str, version: &str, kind: &str) -> Msg {
    // NamedAny{name=1, value=2: Any{yaml=2}}
    let mut any = Msg::default();
    any.string(
        2,
        &format!("group: \"{group}\"\nkind: {kind}\nversion: {version}\n"),
    );
    let mut named = Msg::default();
    named
        .string(1, "x-kubernetes-group-version-kind")
        .msg(2, &any);
    named
}

/// The whole document, encoded.
pub fn document() -> Vec<u8> {
    let mut paths = Msg::default();
    for r in resources::RESOURCES.iter().filter(|r| r.kind != "Binding") {
        let path = format!(
            "{}/{{name}}",
            crate::discovery::collection_path(r, "{namespace}")
        );
        // Operation{operation_id=5, parameters=8, vendor_extension=13}
        let mut op = Msg::default();
        op.string(5, &format!("patch{}", r.kind));
        for p in ["dryRun", "fieldManager", "fieldValidation", "force"] {
            op.msg(8, &query_param(p));
        }
        op.msg(13, &gvk_extension(r.group, r.version, r.kind));
        // PathItem{patch=8}; NamedPathItem{name=1, value=2}; Paths{path=2}
        let mut item = Msg::default();
        item.msg(8, &op);
        let mut named = Msg::default();
        named.string(1, &path).msg(2, &item);
        paths.msg(2, &named);
    }
    // Info{title=1, version=2}; Document{swagger=1, info=2, paths=8}
    let mut info = Msg::default();
    info.string(1, "Kubernetes")
        .string(2, crate::discovery::GIT_VERSION);
    let mut doc = Msg::default();
    doc.string(1, "2.0").msg(2, &info).msg(8, &paths);
    doc.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn document_is_wellformed_protobuf() {
        let d = document();
        // field 1 (swagger), wire type 2, "2.0"
        assert_eq!(&d[..5], &[0x0a, 3, b'2', b'.', b'0']);
        let text = String::from_utf8_lossy(&d);
        assert!(text.contains("/api/v1/namespaces/{namespace}/pods/{name}"));
        assert!(text.contains("fieldValidation"));
        assert!(text.contains("kind: Deployment\nversion: v1"));
    }
}
