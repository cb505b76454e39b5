//! Lab benchmarks (run as root: `cargo bench -p kinet --bench lab`):
//! - `kinet up --demo` until every pod is Ready (the time `up` itself waits for);
//! - 100 pods applied with kubectl until `kubectl wait` sees them all Ready;
//! - memory per pod (PSS of the lab's processes, and the daemon's growth).
//!
//! Prints numbers; asserts nothing about time.

use std::process::Command;
use std::time::Instant;

fn kinet(lab: &str, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_kinet"))
        .arg("--name")
        .arg(lab)
        .args(args)
        .output()
        .unwrap()
}

fn pss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Pss:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// PSS of every process carrying the lab's marker or holding one of its pods.
fn lab_pss(lab: &str) -> (u64, usize) {
    let marker = format!("KINET_LAB={lab}");
    let (mut total, mut n) = (0, 0);
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let env = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
        let cmd = String::from_utf8_lossy(
            &std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default(),
        )
        .replace('\0', " ");
        let ours = env.split(|b| *b == 0).any(|kv| kv == marker.as_bytes())
            || cmd.contains(&format!("pause --lab {lab} "));
        if ours && !cmd.contains(" daemon ") {
            total += pss_kb(pid);
            n += 1;
        }
    }
    (total, n)
}

fn daemon_pss(lab: &str) -> u64 {
    let pid: u32 = std::fs::read_to_string(format!("/run/kinet/{lab}/daemon.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    pss_kb(pid)
}

fn main() {
    let lab = format!("bench{}", std::process::id());
    let runs = 5;
    let mut ups = Vec::new();
    for _ in 0..runs {
        let t = Instant::now();
        let o = kinet(&lab, &["up", "--demo", "--no-kubeconfig"]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        ups.push(t.elapsed().as_secs_f64());
        kinet(&lab, &["down"]);
    }
    ups.sort_by(|a, b| a.partial_cmp(b).unwrap());
    println!(
        "kinet up --demo until every pod Ready: median {:.3}s (min {:.3}s, max {:.3}s, {runs} runs)",
        ups[runs / 2],
        ups[0],
        ups[runs - 1]
    );

    let o = kinet(&lab, &["up", "--no-kubeconfig", "--nodes", "2"]);
    assert!(o.status.success());
    let kubeconfig = format!("/var/lib/kinet/{lab}/kubeconfig");
    let daemon_before = daemon_pss(&lab);
    let mut yaml = String::new();
    for i in 0..100 {
        yaml.push_str(&format!(
            "---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: p{i}\n  labels: {{bench: \"1\"}}\nspec:\n  containers:\n  - name: c\n    image: busybox\n    command: [\"sleep\", \"infinity\"]\n"
        ));
    }
    let f = std::env::temp_dir().join(format!("{lab}.yaml"));
    std::fs::write(&f, yaml).unwrap();
    let t = Instant::now();
    let o = Command::new("kubectl")
        .args(["apply", "-f", f.to_str().unwrap()])
        .env("KUBECONFIG", &kubeconfig)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let applied = t.elapsed().as_secs_f64();
    // poll the list (kubectl wait checks pods one by one, ~0.2 s each, and would measure itself)
    let jp =
        r#"jsonpath={range .items[*]}{.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}"#;
    loop {
        let o = Command::new("kubectl")
            .args(["get", "pods", "-l", "bench=1", "-o", jp])
            .env("KUBECONFIG", &kubeconfig)
            .output()
            .unwrap();
        let ready = String::from_utf8_lossy(&o.stdout)
            .lines()
            .filter(|l| *l == "True")
            .count();
        if ready == 100 {
            break;
        }
        assert!(
            t.elapsed().as_secs() < 120,
            "only {ready}/100 pods Ready after 120 s"
        );
    }
    let ready = t.elapsed().as_secs_f64();
    println!("100 pods: kubectl apply returned after {applied:.3}s, all Ready after {ready:.3}s");
    let (pss, procs) = lab_pss(&lab);
    let daemon_after = daemon_pss(&lab);
    println!(
        "memory: {procs} pod processes, {:.0} KiB PSS per pod (holder + container), daemon grew {:.0} KiB ({:.1} KiB per pod)",
        pss as f64 / 100.0,
        daemon_after.saturating_sub(daemon_before) as f64,
        daemon_after.saturating_sub(daemon_before) as f64 / 100.0
    );
    kinet(&lab, &["down"]);
    let _ = std::fs::remove_file(f);
}
