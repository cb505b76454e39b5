#!/usr/bin/env python3
"""Generates schema.txt, the protobuf schema table used by proto.rs.

Sources (all local, nothing is fetched):
  * k8s-pb 0.9.0 (crates.io): prost code compiled from the upstream Kubernetes
    generated.proto files (Kubernetes 1.34). Gives, per message: field numbers,
    proto field names, scalar types, repeated/map and message references.
  * a kubectl binary (Go, 1.33): its reflect type data holds the Go struct tags
    of k8s.io/api and k8s.io/apimachinery types. Gives, per field: the JSON name
    (json tag), omitempty, whether the Go field is a pointer, `,inline`
    embedding, and the Go declaration order (= field order of json.Marshal).
    Its protobuf tags are cross-checked against k8s-pb.
  * k8s-openapi (crates.io): JSON names for fields newer than the kubectl binary.

Only message names, field numbers, JSON names and types are written.

Usage: gen_schema.py [--k8s-pb DIR] [--kubectl BIN] [--openapi DIR] > schema.txt
"""

import argparse
import glob
import os
import re
import struct
import sys

# Proto packages covered (k8s-pb module path -> short package name). Every message
# of these packages is included, plus everything they reference.
PACKAGES = {
    "api/core/v1": "core.v1",
    "api/apps/v1": "apps.v1",
    "api/batch/v1": "batch.v1",
    "api/networking/v1": "networking.v1",
    "api/discovery/v1": "discovery.v1",
    "api/coordination/v1": "coordination.v1",
    "api/policy/v1": "policy.v1",
    "api/autoscaling/v1": "autoscaling.v1",
    "api/autoscaling/v2": "autoscaling.v2",
    "api/events/v1": "events.v1",
    "api/rbac/v1": "rbac.v1",
    "api/scheduling/v1": "scheduling.v1",
    "api/authentication/v1": "authentication.v1",
    "api/authorization/v1": "authorization.v1",
    "api/certificates/v1": "certificates.v1",
    "api/storage/v1": "storage.v1",
    "api/node/v1": "node.v1",
    "apimachinery/pkg/apis/meta/v1": "meta.v1",
    "apimachinery/pkg/runtime": "runtime",
    "apimachinery/pkg/util/intstr": "intstr",
    "apimachinery/pkg/api/resource": "resource",
}

def short_pkg(modpath):
    key = "/".join(modpath)
    return PACKAGES.get(key)


# ---------------------------------------------------------------- k8s-pb parsing

FIELD_RE = re.compile(
    r"#\[prost\((?P<attr>[^\]]*?)\)\]\s*pub (?:r#)?(?P<name>\w+):\s*(?P<ty>.*?),\s*\n\s*(?=///|#\[|\})",
    re.S,
)
STRUCT_RE = re.compile(r"pub struct (\w+) \{(.*?)\n\}", re.S)


def resolve_type(ty, modpath):
    ty = re.sub(r"\s+", "", ty)
    for w in (
        "::core::option::Option<",
        "::prost::alloc::vec::Vec<",
        "::prost::alloc::boxed::Box<",
        "::prost::alloc::collections::BTreeMap<::prost::alloc::string::String,",
    ):
        ty = ty.replace(w, "")
    ty = ty.rstrip(">,")
    parts = ty.split("::")
    ups = 0
    while parts and parts[0] == "super":
        ups += 1
        parts.pop(0)
    base = modpath[: len(modpath) - ups] if ups else list(modpath)
    full = base + parts[:-1]
    pkg = short_pkg(full)
    if pkg is None:
        raise SystemExit(f"message type outside covered packages: {'/'.join(full)}::{parts[-1]}")
    return f"{pkg}.{parts[-1]}"


def parse_k8s_pb(root):
    msgs = {}
    for mod, pkg in PACKAGES.items():
        path = os.path.join(root, "src", mod, "mod.rs")
        text = open(path, encoding="utf-8").read()
        modpath = mod.split("/")
        for sm in STRUCT_RE.finditer(text):
            name, body = sm.group(1), sm.group(2) + "\n}"
            fields = []
            for fm in FIELD_RE.finditer(body):
                attr = fm.group("attr")
                num = int(re.search(r'tag\s*=\s*"(\d+)"', attr).group(1))
                f = {"num": num, "pbname": fm.group("name"), "rep": False, "map": None}
                mm = re.match(r'\s*(?:btree_map|map|hash_map)\s*=\s*"string,\s*(\w+)"', attr)
                if mm:
                    vt = mm.group(1)
                    f["map"] = True
                    f["type"] = resolve_type(fm.group("ty"), modpath) if vt == "message" else vt
                else:
                    kind = re.match(r"\s*(\w+)", attr).group(1)
                    f["rep"] = "repeated" in attr
                    if kind == "message":
                        f["type"] = resolve_type(fm.group("ty"), modpath)
                    elif kind in ("string", "bytes", "bool", "int32", "int64", "double", "float", "uint32", "uint64"):
                        f["type"] = kind
                    else:
                        raise SystemExit(f"unhandled prost type {attr!r} in {pkg}.{name}")
                fields.append(f)
            msgs[f"{pkg}.{name}"] = fields
    return msgs


# ------------------------------------------------------------ Go binary parsing

KINDS = {1: "bool", 2: "int", 5: "int32", 6: "int64", 8: "uint8", 14: "float64", 17: "array",
         20: "interface", 21: "map", 22: "ptr", 23: "slice", 24: "string", 25: "struct"}


def parse_go_binary(path):
    """Returns {"core.v1.Pod": [ {go, json, omitempty, inline, kind, elem, pnum, pname, prep}, ...]}."""
    data = open(path, "rb").read()
    shoff = struct.unpack_from("<Q", data, 0x28)[0]
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3A)
    hdrs = [struct.unpack_from("<IIQQQQIIQQ", data, shoff + i * shentsize) for i in range(shnum)]
    strtab = hdrs[shstrndx]
    secs = {}
    for h in hdrs:
        nm = data[strtab[4] + h[0]:].split(b"\0", 1)[0].decode()
        secs[nm] = (h[3], h[4], h[5])
    ro_addr, ro_off, ro_size = secs[".rodata"]
    ro = data[ro_off:ro_off + ro_size]

    def rd(addr, n):
        if ro_addr <= addr < ro_addr + ro_size:
            return ro[addr - ro_addr: addr - ro_addr + n]
        raise ValueError(hex(addr))

    def u64(a):
        return struct.unpack("<Q", rd(a, 8))[0]

    def varint(b, i):
        r = s = 0
        while True:
            c = b[i]
            i += 1
            r |= (c & 0x7F) << s
            s += 7
            if c < 0x80:
                return r, i

    def readname(addr):
        b = rd(addr, 4096)
        n, i = varint(b, 1)
        nm = b[i:i + n].decode("latin1")
        i += n
        tag = None
        if b[0] & 2:
            t, i = varint(b, i)
            tag = b[i:i + t].decode("latin1")
        return nm, tag

    # 1. reflect names (flags, varint len, name, varint len, tag) whose tag mentions json/protobuf
    names = {}
    for m in re.finditer(rb'(?:json|protobuf):"', ro):
        t = m.start()
        for vl in (1, 2):
            vs = t - vl
            try:
                tl, e = varint(ro, vs)
            except IndexError:
                continue
            if e != t or tl < 6:
                continue
            found = False
            for n in range(1, 120):
                ns = vs - n
                if ns < 2:
                    break
                if ro[ns - 1] != n or not ro[ns - 2] & 2:
                    continue
                if re.fullmatch(rb"[A-Za-z_][A-Za-z0-9_]*", ro[ns:vs]):
                    names[ro_addr + ns - 2] = True
                    found = True
                    break
            if found:
                break

    # 2. structField arrays {name *byte, typ *Type, offset uintptr} pointing at those names
    def field_at(q):
        return struct.unpack_from("<QQQ", ro, q)

    def valid(q):
        if q < 0 or q + 24 > ro_size:
            return False
        na, ty, _ = field_at(q)
        return ro_addr <= na < ro_addr + ro_size and ro_addr <= ty < ro_addr + ro_size

    arrays = {}
    seen = set()
    for q in range(0, ro_size - 24, 8):
        if q in seen:
            continue
        if struct.unpack_from("<Q", ro, q)[0] not in names:
            continue
        s = q
        while valid(s - 24) and field_at(s - 24)[2] < field_at(s)[2]:
            s -= 24
        e = q
        while valid(e + 24) and field_at(e + 24)[2] > field_at(e)[2]:
            e += 24
        seen.update(range(s, e + 24, 24))
        arrays[ro_addr + s] = (s, e)

    def kind(t):
        return KINDS.get(rd(t + 23, 1)[0] & 0x1F, "other")

    def tname(t):
        so = struct.unpack_from("<i", rd(t + 40, 4))[0]
        n = readname(ro_addr + so)[0]
        return n[1:] if rd(t + 20, 1)[0] & 2 else n

    # 3. struct types (abi.StructType: Type(48) PkgPath(8) Fields(24) Uncommon) owning the arrays
    out = {}
    for q in range(0, ro_size - 16, 8):
        v = struct.unpack_from("<Q", ro, q)[0]
        if v not in arrays:
            continue
        st = ro_addr + q - 56
        s, e = arrays[v]
        if struct.unpack_from("<Q", ro, q + 8)[0] != (e - s) // 24 + 1 or kind(st) != "struct":
            continue
        if not rd(st + 20, 1)[0] & 1:
            continue  # not a named type
        pkg = readname(ro_addr + struct.unpack_from("<i", rd(st + 80, 4))[0])[0]
        short = None
        for mod, sp in PACKAGES.items():
            if pkg == "k8s.io/" + mod:
                short = sp
        if short is None:
            continue
        tn = tname(st).split(".")[-1]
        fields = []
        for fq in range(s, e + 24, 24):
            na, ty, _ = field_at(fq)
            gname, tag = readname(na)
            tag = tag or ""
            k = kind(ty)
            elem = None
            if k in ("ptr", "slice"):
                elem = kind(u64(ty + 48))
            jm = re.search(r'json:"([^"]*)"', tag)
            pm = re.search(r'protobuf:"([^"]*)"', tag)
            jparts = jm.group(1).split(",") if jm else [gname]
            f = {"go": gname, "json": jparts[0], "omitempty": "omitempty" in jparts[1:],
                 "inline": "inline" in jparts[1:], "kind": k, "elem": elem, "pnum": None}
            pp = pm.group(1).split(",") if pm else []
            if len(pp) >= 3:
                f["pnum"] = int(pp[1])
                f["prep"] = pp[2] == "rep"
                f["pname"] = next((x[5:] for x in pp if x.startswith("name=")), None)
            fields.append(f)
        out[f"{short}.{tn}"] = fields
    return out


# -------------------------------------------------------------- k8s-openapi names

def openapi_names(root):
    """{'core.v1.PodSpec': {normalized: jsonName}} from k8s-openapi deserializers."""
    res = {}
    for mod, pkg in PACKAGES.items():
        for path in glob.glob(os.path.join(root, mod, "*.rs")):
            text = open(path, encoding="utf-8").read()
            sm = re.search(r"pub struct (\w+)", text)
            if not sm:
                continue
            d = {}
            for jm in re.finditer(r'"([A-Za-z$][\w$-]*)" => Field::Key_', text):
                d[norm(jm.group(1))] = jm.group(1)
            res[f"{pkg}.{sm.group(1)}"] = d
            for extra in re.findall(r"pub struct (\w+)", text)[1:]:
                res.setdefault(f"{pkg}.{extra}", {})
    return res


def norm(s):
    return s.replace("_", "").lower()


def lower_camel(snake):
    p = snake.split("_")
    return p[0] + "".join(x[:1].upper() + x[1:] for x in p[1:])


# ---------------------------------------------------------------------- output

SCALARS = {"string", "bytes", "bool", "int32", "int64", "uint32", "uint64", "double", "float"}


def main():
    home = os.path.expanduser("~")
    ap = argparse.ArgumentParser()
    ap.add_argument("--k8s-pb", default=(glob.glob(f"{home}/.cargo/registry/src/*/k8s-pb-0.9.0") or [None])[0])
    ap.add_argument("--kubectl", default="/usr/lib/google-cloud-sdk/bin/kubectl.1.33")
    ap.add_argument("--openapi", default=(glob.glob(f"{home}/.cargo/registry/src/*/k8s-openapi-0.29.0/src/v1_34") or [None])[0])
    args = ap.parse_args()

    msgs = parse_k8s_pb(args.k8s_pb)
    gos = parse_go_binary(args.kubectl)
    oa = openapi_names(args.openapi)
    # prost renames messages to Rust case (PodDNSConfig -> PodDnsConfig): restore the proto
    # names from the Go type names (kubectl) or the k8s-openapi struct names.
    known = {}
    for full in list(oa) + list(gos):
        pkg, _, n = full.rpartition(".")
        known[(pkg, n.lower())] = full
    rename = {}
    for m in msgs:
        pkg, _, n = m.rpartition(".")
        rename[m] = known.get((pkg, n.lower()), m)
    msgs = {rename[m]: [dict(f, type=rename.get(f["type"], f["type"])) for f in fs] for m, fs in msgs.items()}
    stats = {"fields": 0, "from_go": 0, "from_openapi": 0, "camel": 0, "mismatch": 0}

    print("# Kubernetes protobuf schema for kinet's proto.rs. Generated by gen_schema.py; do not edit.")
    print("# `@ message` starts a message; then `number jsonName type [rep] [map] [keep] [inline]`.")
    print("# type: string bytes bool int32 int64 double float or a message name; map = map<string, type>.")
    print("# keep: keep zero values (Go pointer or non-omitempty field); inline: JSON-embedded struct.")
    for mname in sorted(msgs):
        fields = msgs[mname]
        go = gos.get(mname)
        print(f"@ {mname}")
        rows = []
        for f in fields:
            stats["fields"] += 1
            gf = None
            if go:
                cands = [g for g in go if g["pnum"] == f["num"]]
                if cands:
                    gf = cands[0]
            order = (1, f["num"])
            keep = inline = False
            if gf is not None:
                stats["from_go"] += 1
                order = (0, go.index(gf))
                if gf.get("pname") and norm(gf["pname"]) != norm(f["pbname"]):
                    stats["mismatch"] += 1
                    print(f"warning: {mname} field {f['num']}: go name {gf['pname']} vs k8s-pb {f['pbname']}", file=sys.stderr)
                jname = gf["json"]
                inline = gf["inline"]
                keep = gf["kind"] == "ptr" or not gf["omitempty"]
            else:
                d = oa.get(mname, {})
                if norm(f["pbname"]) in d:
                    stats["from_openapi"] += 1
                    jname = d[norm(f["pbname"])]
                else:
                    stats["camel"] += 1
                    jname = lower_camel(f["pbname"])
                    print(f"note: {mname}.{f['pbname']}: JSON name guessed as {jname}", file=sys.stderr)
            if not jname or jname == "-":
                jname = lower_camel(f["pbname"])  # raw payloads of special types
            flags = []
            if f["rep"]:
                flags.append("rep")
            if f["map"]:
                flags.append("map")
            if keep and f["type"] in SCALARS and not (f["rep"] or f["map"]):
                flags.append("keep")
            if inline:
                flags.append("inline")
            rows.append((order, f"{f['num']} {jname} {f['type']}" + "".join(" " + x for x in flags)))
        for _, r in sorted(rows):
            print(r)
    print(f"# stats: {stats}", file=sys.stderr)
    missing = sorted(m for m in msgs if m not in gos)
    print(f"# messages: {len(msgs)}; not in kubectl binary: {missing}", file=sys.stderr)


if __name__ == "__main__":
    main()
