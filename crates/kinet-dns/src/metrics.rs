//! A small Prometheus registry for CoreDNS's metric names
//! (`coredns_dns_requests_total`, `coredns_cache_hits_total`, …) and its
//! text exposition on the prometheus plugin's `/metrics`.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::{Mutex, OnceLock};

/// CoreDNS's plugin.TimeBuckets (seconds).
pub const TIME_BUCKETS: &[f64] = &[
    0.00025, 0.0005, 0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512, 1.024,
    2.048, 4.096, 8.192,
];

/// Request and response size buckets (bytes).
pub const SIZE_BUCKETS: &[f64] = &[
    0.0, 100.0, 200.0, 300.0, 400.0, 511.0, 1023.0, 2047.0, 4095.0, 8291.0, 16e3, 32e3, 48e3, 64e3,
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Counter,
    Gauge,
    Histogram,
}

#[derive(Debug)]
struct Family {
    help: &'static str,
    kind: Kind,
    buckets: &'static [f64],
    /// label text (`a="b",c="d"`) → value, or bucket counts + sum + count.
    series: BTreeMap<String, Series>,
}

#[derive(Debug, Default, Clone)]
struct Series {
    value: f64,
    buckets: Vec<u64>,
    count: u64,
}

#[derive(Debug, Default)]
pub struct Registry {
    families: Mutex<BTreeMap<&'static str, Family>>,
}

/// Label text, names sorted as the Prometheus client prints them.
fn labels(l: &[(&str, &str)]) -> String {
    let mut l = l.to_vec();
    l.sort_by_key(|(k, _)| *k);
    let mut s = String::new();
    for (i, (k, v)) in l.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        let v = v
            .replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('\n', "\\n");
        let _ = write!(s, "{k}=\"{v}\"");
    }
    s
}

/// The process's registry.
pub fn global() -> &'static Registry {
    static R: OnceLock<Registry> = OnceLock::new();
    R.get_or_init(Registry::default)
}

impl Registry {
    fn with(
        &self,
        name: &'static str,
        help: &'static str,
        kind: Kind,
        buckets: &'static [f64],
        l: &[(&str, &str)],
        f: impl FnOnce(&mut Series),
    ) {
        let mut fams = self.families.lock().unwrap_or_else(|p| p.into_inner());
        let fam = fams.entry(name).or_insert_with(|| Family {
            help,
            kind,
            buckets,
            series: BTreeMap::new(),
        });
        let s = fam.series.entry(labels(l)).or_insert_with(|| Series {
            buckets: vec![0; buckets.len()],
            ..Default::default()
        });
        f(s);
    }

    pub fn inc(&self, name: &'static str, help: &'static str, l: &[(&str, &str)]) {
        self.add(name, help, l, 1.0);
    }

    pub fn add(&self, name: &'static str, help: &'static str, l: &[(&str, &str)], v: f64) {
        self.with(name, help, Kind::Counter, &[], l, |s| s.value += v);
    }

    pub fn set(&self, name: &'static str, help: &'static str, l: &[(&str, &str)], v: f64) {
        self.with(name, help, Kind::Gauge, &[], l, |s| s.value = v);
    }

    pub fn observe(
        &self,
        name: &'static str,
        help: &'static str,
        buckets: &'static [f64],
        l: &[(&str, &str)],
        v: f64,
    ) {
        self.with(name, help, Kind::Histogram, buckets, l, |s| {
            for (count, b) in s.buckets.iter_mut().zip(buckets) {
                if v <= *b {
                    *count += 1;
                }
            }
            s.value += v;
            s.count += 1;
        });
    }

    /// A counter's or gauge's value (tests).
    pub fn value(&self, name: &str, l: &[(&str, &str)]) -> Option<f64> {
        let fams = self.families.lock().unwrap_or_else(|p| p.into_inner());
        fams.get(name)?.series.get(&labels(l)).map(|s| s.value)
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let fams = self.families.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = String::new();
        for (name, f) in fams.iter() {
            let kind = match f.kind {
                Kind::Counter => "counter",
                Kind::Gauge => "gauge",
                Kind::Histogram => "histogram",
            };
            let _ = writeln!(out, "# HELP {name} {}", f.help);
            let _ = writeln!(out, "# TYPE {name} {kind}");
            for (l, s) in &f.series {
                let braced = |extra: &str| {
                    let all = match (l.is_empty(), extra.is_empty()) {
                        (true, _) => extra.to_string(),
                        (false, true) => l.clone(),
                        (false, false) => format!("{l},{extra}"),
                    };
                    if all.is_empty() {
                        String::new()
                    } else {
                        format!("{{{all}}}")
                    }
                };
                if f.kind == Kind::Histogram {
                    for (b, count) in f.buckets.iter().zip(&s.buckets) {
                        let _ = writeln!(
                            out,
                            "{name}_bucket{} {count}",
                            braced(&format!("le=\"{b}\""))
                        );
                    }
                    let _ = writeln!(out, "{name}_bucket{} {}", braced("le=\"+Inf\""), s.count);
                    let _ = writeln!(out, "{name}_sum{} {}", braced(""), s.value);
                    let _ = writeln!(out, "{name}_count{} {}", braced(""), s.count);
                } else {
                    let _ = writeln!(out, "{name}{} {}", braced(""), s.value);
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_histograms() {
        let r = Registry::default();
        r.inc(
            "coredns_dns_requests_total",
            "Counter of DNS requests made per zone, protocol and family.",
            &[("server", "dns://:53"), ("type", "A")],
        );
        r.observe(
            "coredns_dns_request_duration_seconds",
            "Histogram of the time (in seconds) each request took.",
            TIME_BUCKETS,
            &[("zone", ".")],
            0.0003,
        );
        let t = r.render();
        assert!(
            t.contains("coredns_dns_requests_total{server=\"dns://:53\",type=\"A\"} 1\n"),
            "{t}"
        );
        assert!(
            t.contains(
                "coredns_dns_request_duration_seconds_bucket{zone=\".\",le=\"0.00025\"} 0\n"
            ),
            "{t}"
        );
        assert!(
            t.contains("coredns_dns_request_duration_seconds_bucket{zone=\".\",le=\"0.0005\"} 1\n"),
            "{t}"
        );
        assert!(
            t.contains("coredns_dns_request_duration_seconds_count{zone=\".\"} 1\n"),
            "{t}"
        );
        assert!(t.contains("# TYPE coredns_dns_requests_total counter\n"));
    }
}
