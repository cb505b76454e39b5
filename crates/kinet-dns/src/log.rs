//! CoreDNS's log lines (plugin/pkg/log): `[INFO] …`, `[ERROR] plugin/x: …`,
//! on stdout as CoreDNS writes them.

pub fn info(msg: &str) {
    println!("[INFO] {msg}");
}

pub fn warning(msg: &str) {
    println!("[WARNING] {msg}");
}

pub fn error(msg: &str) {
    println!("[ERROR] {msg}");
}

/// `[FATAL] …` and exit 1.
pub fn fatal(msg: &str) -> ! {
    println!("[FATAL] {msg}");
    std::process::exit(1)
}
