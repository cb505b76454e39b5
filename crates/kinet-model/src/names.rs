//! Generated names (`generateName`, ReplicaSet and DaemonSet pods): upstream's
//! alphabet of consonants and digits that never spells a word.

const ALPHANUMS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// `n` characters drawn from `seed` (callers pass a random number).
pub fn suffix(seed: u64, n: usize) -> String {
    let mut x = seed;
    (0..n)
        .map(|_| {
            let c = ALPHANUMS[(x % ALPHANUMS.len() as u64) as usize] as char;
            x /= ALPHANUMS.len() as u64;
            c
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suffixes_use_the_safe_alphabet() {
        let s = suffix(u64::MAX, 5);
        assert_eq!(s.len(), 5);
        assert!(s.bytes().all(|b| ALPHANUMS.contains(&b)));
        assert_ne!(suffix(1, 5), suffix(2, 5));
        assert_eq!(suffix(0, 3), "bbb");
    }
}
