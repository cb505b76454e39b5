//! Chain names as upstream kube-proxy derives them: sha256 of a key, encoded
//! with base32 (RFC 4648 standard alphabet, as Go's `base32.StdEncoding`),
//! truncated.

use sha2::{Digest, Sha256};

const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// Base32 (standard alphabet, no padding needed for our prefixes) of `bytes`.
pub fn base32(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for &b in bytes {
        buffer = (buffer << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(ALPHABET[((buffer >> bits) & 31) as usize]));
        }
    }
    if bits > 0 {
        out.push(char::from(ALPHABET[((buffer << (5 - bits)) & 31) as usize]));
    }
    out
}

/// The first `len` characters of base32(sha256(key)).
pub fn hash_prefix(key: &str, len: usize) -> String {
    let digest = Sha256::digest(key.as_bytes());
    let mut encoded = base32(&digest);
    encoded.truncate(len);
    encoded
}

/// Upstream's `portProtoHash`: 16 characters for the service port chains
/// (KUBE-SVC-, KUBE-SVL-, KUBE-EXT-, KUBE-FW-).
pub fn port_proto_hash(service_port_name: &str, protocol: &str) -> String {
    hash_prefix(&format!("{service_port_name}{protocol}"), 16)
}

/// Upstream's `servicePortEndpointChainName` hash (KUBE-SEP-).
pub fn endpoint_hash(service_port_name: &str, protocol: &str, endpoint: &str) -> String {
    hash_prefix(&format!("{service_port_name}{protocol}{endpoint}"), 16)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base32_matches_rfc4648_vectors() {
        assert_eq!(base32(b""), "");
        assert_eq!(base32(b"f"), "MY");
        assert_eq!(base32(b"fo"), "MZXQ");
        assert_eq!(base32(b"foo"), "MZXW6");
        assert_eq!(base32(b"foob"), "MZXW6YQ");
        assert_eq!(base32(b"fooba"), "MZXW6YTB");
        assert_eq!(base32(b"foobar"), "MZXW6YTBOI");
    }

    #[test]
    fn hashes_match_upstream_chain_names() {
        // From kubernetes pkg/proxy/iptables/proxier_test.go.
        assert_eq!(port_proto_hash("ns1/svc1:p80", "tcp"), "XPGD46QRK7WJZT7O");
        assert_eq!(port_proto_hash("ns4/svc4:p80", "tcp"), "4SW47YFZTEDKD3PK");
        assert_eq!(port_proto_hash("ns2/svc2:p80", "tcp"), "GNZBNJ2PO5MGZ6GT");
        assert_eq!(
            endpoint_hash("ns1/svc1:p80", "tcp", "10.180.0.1:80"),
            "SXIVWICOYRO3J4NJ"
        );
        assert_eq!(
            endpoint_hash("ns1/svc1:p80", "tcp", "10.180.2.1:80"),
            "ZX7GRIZKSNUQ3LAJ"
        );
        assert_eq!(
            endpoint_hash("ns4/svc4:p80", "tcp", "10.180.0.5:80"),
            "C6EBXVWJJZMIWKLZ"
        );
    }
}
