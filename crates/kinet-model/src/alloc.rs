//! The Service allocators (upstream's `pkg/registry/core/service/ipallocator` and
//! `portallocator`): bitmaps over the ClusterIP range and the NodePort range, with
//! upstream's refusals. Pure: the registry rebuilds them from the stored Services
//! on each write (so a restart or a delete needs no bookkeeping of its own) and
//! holds a lock across allocation and the write.

use crate::ipam::Cidr;
use crate::json::{arr_at, int_at, str_at};
use crate::lab;
use serde_json::Value;
use std::net::Ipv4Addr;

/// Why an allocation failed, worded as upstream's allocators' errors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AllocError {
    /// `provided IP is already allocated` / `provided port is already allocated`.
    Allocated,
    /// The value is outside the range (the message names the range).
    NotInRange,
    /// `range is full`.
    Full,
}

/// A fixed-size bitmap of offsets `0..size`.
#[derive(Debug, Clone)]
struct Bitmap {
    bits: Vec<u64>,
    size: u32,
}

impl Bitmap {
    fn new(size: u32) -> Self {
        Bitmap {
            bits: vec![0; size.div_ceil(64) as usize],
            size,
        }
    }
    fn has(&self, i: u32) -> bool {
        i < self.size && self.bits[(i / 64) as usize] & (1 << (i % 64)) != 0
    }
    fn set(&mut self, i: u32) {
        if i < self.size {
            self.bits[(i / 64) as usize] |= 1 << (i % 64);
        }
    }
    fn clear(&mut self, i: u32) {
        if i < self.size {
            self.bits[(i / 64) as usize] &= !(1 << (i % 64));
        }
    }
    fn count(&self) -> u32 {
        self.bits.iter().map(|w| w.count_ones()).sum()
    }
    /// The first free offset of `lo..hi` scanning from `start` (wrapping), skipping `skip`.
    fn free_in(&self, lo: u32, hi: u32, start: u32, skip: &dyn Fn(u32) -> bool) -> Option<u32> {
        let n = hi.saturating_sub(lo);
        if n == 0 {
            return None;
        }
        (0..n)
            .map(|k| lo + (start % n + k) % n)
            .find(|&i| !self.has(i) && !skip(i))
    }
}

/// Upstream's `calculateRangeOffset`: dynamic allocations prefer the range above
/// this offset, leaving the bottom for addresses and ports asked for by value.
fn range_offset(size: u32, min: u32, max: u32, step: u32) -> u32 {
    if size < min {
        return 0;
    }
    (size / step).clamp(min, max)
}

/// ClusterIPs of one CIDR. The network and broadcast addresses are never handed out.
#[derive(Debug, Clone)]
pub struct IpAllocator {
    cidr: Cidr,
    map: Bitmap,
    /// Addresses allocated only when asked for by value (the cluster DNS address).
    reserved: Vec<Ipv4Addr>,
}

impl IpAllocator {
    pub fn new(cidr: Cidr, reserved: &[Ipv4Addr]) -> Self {
        let usable = cidr.size().saturating_sub(2).min(u32::MAX as u64) as u32;
        IpAllocator {
            cidr,
            map: Bitmap::new(usable),
            reserved: reserved.to_vec(),
        }
    }

    /// The lab's Service range, with the cluster DNS address kept for kube-dns.
    pub fn lab() -> Self {
        Self::new(lab::SERVICE_CIDR, &[lab::CLUSTER_DNS_IP])
    }

    fn offset_of(&self, ip: Ipv4Addr) -> Option<u32> {
        if !self.cidr.contains(ip) {
            return None;
        }
        let off = u32::from(ip).wrapping_sub(u32::from(self.cidr.addr));
        (off >= 1 && off <= self.map.size).then(|| off - 1)
    }

    /// Takes `ip`, asked for by value.
    pub fn allocate(&mut self, ip: Ipv4Addr) -> Result<(), AllocError> {
        let off = self.offset_of(ip).ok_or(AllocError::NotInRange)?;
        if self.map.has(off) {
            return Err(AllocError::Allocated);
        }
        self.map.set(off);
        Ok(())
    }

    /// Takes a free address: from the upper band first, scanning from `seed`
    /// (random in the registry), then the lower band; never a reserved one.
    pub fn allocate_next(&mut self, seed: u32) -> Result<Ipv4Addr, AllocError> {
        let size = self.map.size;
        let offset = range_offset(size, 16, 256, 16);
        let reserved: Vec<u32> = self
            .reserved
            .iter()
            .filter_map(|ip| self.offset_of(*ip))
            .collect();
        let skip = |i: u32| reserved.contains(&i);
        let off = self
            .map
            .free_in(offset, size, seed, &skip)
            .or_else(|| self.map.free_in(0, offset, seed, &skip))
            .ok_or(AllocError::Full)?;
        self.map.set(off);
        Ok(self.cidr.nth(off + 1))
    }

    pub fn release(&mut self, ip: Ipv4Addr) {
        if let Some(off) = self.offset_of(ip) {
            self.map.clear(off);
        }
    }

    pub fn has(&self, ip: Ipv4Addr) -> bool {
        self.offset_of(ip).is_some_and(|o| self.map.has(o))
    }

    pub fn used(&self) -> u32 {
        self.map.count()
    }

    /// The error text of `e` for `ip`, as upstream's ipallocator prints it.
    pub fn message(&self, e: &AllocError, ip: &str) -> String {
        match e {
            AllocError::Allocated => "provided IP is already allocated".into(),
            AllocError::NotInRange => format!(
                "the provided IP ({ip}) is not in the valid range. The range of valid IPs is {}",
                self.cidr
            ),
            AllocError::Full => "range is full".into(),
        }
    }
}

/// NodePorts of an inclusive range.
#[derive(Debug, Clone)]
pub struct PortAllocator {
    lo: u16,
    hi: u16,
    map: Bitmap,
}

impl PortAllocator {
    pub fn new((lo, hi): (u16, u16)) -> Self {
        PortAllocator {
            lo,
            hi,
            map: Bitmap::new((hi.saturating_sub(lo)) as u32 + 1),
        }
    }

    /// The lab's NodePort range.
    pub fn lab() -> Self {
        Self::new(lab::NODE_PORT_RANGE)
    }

    fn offset_of(&self, port: i64) -> Option<u32> {
        (self.lo as i64..=self.hi as i64)
            .contains(&port)
            .then(|| (port - self.lo as i64) as u32)
    }

    pub fn allocate(&mut self, port: i64) -> Result<(), AllocError> {
        let off = self.offset_of(port).ok_or(AllocError::NotInRange)?;
        if self.map.has(off) {
            return Err(AllocError::Allocated);
        }
        self.map.set(off);
        Ok(())
    }

    /// Takes a free port, upper band first, scanning from `seed`.
    pub fn allocate_next(&mut self, seed: u32) -> Result<u16, AllocError> {
        let size = self.map.size;
        let offset = range_offset(size, 16, 128, 32);
        let none = |_| false;
        let off = self
            .map
            .free_in(offset, size, seed, &none)
            .or_else(|| self.map.free_in(0, offset, seed, &none))
            .ok_or(AllocError::Full)?;
        self.map.set(off);
        Ok(self.lo + off as u16)
    }

    pub fn release(&mut self, port: i64) {
        if let Some(off) = self.offset_of(port) {
            self.map.clear(off);
        }
    }

    pub fn has(&self, port: i64) -> bool {
        self.offset_of(port).is_some_and(|o| self.map.has(o))
    }

    /// The error text of `e`, as upstream's portallocator prints it.
    pub fn message(&self, e: &AllocError) -> String {
        match e {
            AllocError::Allocated => "provided port is already allocated".into(),
            AllocError::NotInRange => format!(
                "provided port is not in the valid range. The range of valid ports is {}-{}",
                self.lo, self.hi
            ),
            AllocError::Full => "range is full".into(),
        }
    }
}

/// The ClusterIPs a stored Service holds (none for ExternalName and headless).
pub fn service_ips(svc: &Value) -> Vec<Ipv4Addr> {
    if str_at(svc, "/spec/type") == "ExternalName" {
        return Vec::new();
    }
    let mut ips: Vec<Ipv4Addr> = arr_at(svc, "/spec/clusterIPs")
        .iter()
        .filter_map(|v| v.as_str()?.parse().ok())
        .collect();
    if let Ok(ip) = str_at(svc, "/spec/clusterIP").parse()
        && !ips.contains(&ip)
    {
        ips.push(ip);
    }
    ips
}

/// The NodePorts a stored Service holds (ports' nodePorts and healthCheckNodePort).
pub fn service_node_ports(svc: &Value) -> Vec<i64> {
    let mut ports: Vec<i64> = arr_at(svc, "/spec/ports")
        .iter()
        .filter_map(|p| int_at(p, "/nodePort"))
        .filter(|&n| n != 0)
        .collect();
    if let Some(h) = int_at(svc, "/spec/healthCheckNodePort").filter(|&h| h != 0) {
        ports.push(h);
    }
    ports.sort_unstable();
    ports.dedup();
    ports
}

/// Both allocators as the stored Services fill them.
#[derive(Debug, Clone)]
pub struct Allocations {
    pub ips: IpAllocator,
    pub ports: PortAllocator,
}

impl Allocations {
    /// The lab's ranges, with what `services` hold marked used.
    pub fn from_services<'a>(services: impl IntoIterator<Item = &'a Value>) -> Self {
        let mut a = Allocations {
            ips: IpAllocator::lab(),
            ports: PortAllocator::lab(),
        };
        for svc in services {
            for ip in service_ips(svc) {
                let _ = a.ips.allocate(ip);
            }
            for p in service_node_ports(svc) {
                let _ = a.ports.allocate(p);
            }
        }
        a
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ips_by_value_and_dynamically() {
        let mut a = IpAllocator::lab();
        assert_eq!(a.allocate(lab::KUBERNETES_SERVICE_IP), Ok(()));
        assert_eq!(
            a.allocate(lab::KUBERNETES_SERVICE_IP),
            Err(AllocError::Allocated)
        );
        let out: Ipv4Addr = "10.152.184.1".parse().unwrap();
        assert_eq!(a.allocate(out), Err(AllocError::NotInRange));
        assert_eq!(
            a.message(&AllocError::NotInRange, "10.152.184.1"),
            "the provided IP (10.152.184.1) is not in the valid range. The range of valid IPs is 10.152.183.0/24"
        );
        // network and broadcast are not addresses of the range
        assert_eq!(
            a.allocate("10.152.183.0".parse().unwrap()),
            Err(AllocError::NotInRange)
        );
        assert_eq!(
            a.allocate("10.152.183.255".parse().unwrap()),
            Err(AllocError::NotInRange)
        );
        // the DNS address may be asked for
        assert_eq!(a.allocate(lab::CLUSTER_DNS_IP), Ok(()));
        a.release(lab::CLUSTER_DNS_IP);
        // dynamic: the upper band first
        let ip = a.allocate_next(0).unwrap();
        assert_eq!(ip, "10.152.183.17".parse::<Ipv4Addr>().unwrap());
        assert!(a.has(ip));
        a.release(ip);
        assert!(!a.has(ip));
    }

    #[test]
    fn the_dns_address_is_never_handed_out_and_a_full_range_says_so() {
        let mut a = IpAllocator::lab();
        let mut got = Vec::new();
        while let Ok(ip) = a.allocate_next(7) {
            got.push(ip);
        }
        assert_eq!(got.len(), 253, "254 usable addresses minus the DNS one");
        assert!(!got.contains(&lab::CLUSTER_DNS_IP));
        let mut uniq = got.clone();
        uniq.sort();
        uniq.dedup();
        assert_eq!(uniq.len(), got.len());
        assert_eq!(a.allocate_next(0), Err(AllocError::Full));
        assert_eq!(a.allocate(lab::CLUSTER_DNS_IP), Ok(()));
    }

    #[test]
    fn ports() {
        let mut p = PortAllocator::lab();
        assert_eq!(p.allocate(30080), Ok(()));
        assert_eq!(p.allocate(30080), Err(AllocError::Allocated));
        assert_eq!(
            p.message(&AllocError::Allocated),
            "provided port is already allocated"
        );
        assert_eq!(p.allocate(80), Err(AllocError::NotInRange));
        assert_eq!(p.allocate(32768), Err(AllocError::NotInRange));
        assert_eq!(
            p.message(&AllocError::NotInRange),
            "provided port is not in the valid range. The range of valid ports is 30000-32767"
        );
        assert_eq!(p.allocate(32767), Ok(()));
        let n = p.allocate_next(0).unwrap();
        assert_eq!(n, 30086, "the upper band starts 2768/32 ports in");
        let mut small = PortAllocator::new((30000, 30002));
        assert!(small.allocate_next(5).is_ok());
        assert!(small.allocate_next(5).is_ok());
        assert!(small.allocate_next(5).is_ok());
        assert_eq!(small.allocate_next(5), Err(AllocError::Full));
        small.release(30001);
        assert_eq!(small.allocate_next(0), Ok(30001));
    }

    #[test]
    fn rebuilt_from_stored_services() {
        let svcs = [
            json!({"spec": {"type": "ClusterIP", "clusterIP": "10.152.183.1", "clusterIPs": ["10.152.183.1"]}}),
            json!({"spec": {"type": "NodePort", "clusterIP": "10.152.183.50",
                "ports": [{"port": 80, "nodePort": 30080}, {"port": 81}]}}),
            json!({"spec": {"type": "LoadBalancer", "clusterIP": "None", "healthCheckNodePort": 31000,
                "ports": [{"port": 80, "nodePort": "odd"}]}}),
            json!({"spec": {"type": "ExternalName", "clusterIP": "10.152.183.60"}}),
        ];
        let a = Allocations::from_services(svcs.iter());
        assert!(a.ips.has(lab::KUBERNETES_SERVICE_IP));
        assert!(a.ips.has("10.152.183.50".parse().unwrap()));
        assert!(!a.ips.has("10.152.183.60".parse().unwrap()));
        assert_eq!(a.ips.used(), 2);
        assert!(a.ports.has(30080) && a.ports.has(31000));
        assert!(!a.ports.has(30081));
    }
}
