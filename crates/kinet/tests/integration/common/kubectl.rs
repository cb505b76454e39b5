//! The machine's kubectl binaries: every version the README promises must be
//! there (a missing one fails the tests instead of testing fewer), and a runner
//! that says which version an assertion failed with.

use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::path::Path;
use std::process::{Command, Output};

use super::{Lab, out, out_err};

/// Where the versioned kubectl binaries are (Google Cloud SDK components).
const DIR: &str = "/usr/lib/google-cloud-sdk/bin";
/// The minor versions of 1.x the README says kinet is tested with.
const PROMISED: std::ops::RangeInclusive<u32> = 27..=33;
/// Newer ones are tested too when they are there.
const NEWER: std::ops::RangeInclusive<u32> = 34..=40;

/// One kubectl binary, pointed at a lab.
pub struct Kubectl<'a> {
    /// "1.29", or "default" for the `kubectl` on PATH.
    pub version: String,
    pub bin: String,
    lab: &'a Lab,
}

impl Lab {
    /// The `kubectl` on PATH.
    pub fn path_kubectl(&self) -> Kubectl<'_> {
        Kubectl {
            version: "default".into(),
            bin: "kubectl".into(),
            lab: self,
        }
    }

    /// Runs the `kubectl` on PATH against the lab.
    pub fn kubectl<S: AsRef<str>>(&self, args: &[S]) -> Output {
        self.path_kubectl().run(args)
    }

    /// The `kubectl` on PATH, which must succeed; returns stdout.
    #[track_caller]
    pub fn k<S: AsRef<str>>(&self, args: &[S]) -> String {
        self.path_kubectl().ok(args)
    }

    /// Waits (at most `timeout`) until `kubectl get …` (`get`, as one line) lists
    /// nothing.
    #[track_caller]
    pub fn wait_none(&self, timeout: std::time::Duration, get: &str) {
        super::wait_until(timeout, || {
            let left = self.k(&super::args(get));
            if left.trim().is_empty() {
                Ok(())
            } else {
                Err(format!("left behind: {left}"))
            }
        });
    }

    /// Every promised version (panics if one is missing), then any newer one.
    pub fn kubectls(&self) -> Vec<Kubectl<'_>> {
        let lab = self;
        let mut v = Vec::new();
        for minor in PROMISED {
            let bin = format!("{DIR}/kubectl.1.{minor}");
            assert!(
                Path::new(&bin).exists(),
                "kubectl 1.{minor} is missing ({bin}): the README promises every kubectl from \
                 1.{} to 1.{}; install it (`gcloud components install kubectl`, or the \
                 google-cloud-cli-kubectl package) rather than testing fewer",
                PROMISED.start(),
                PROMISED.end()
            );
            v.push(Kubectl {
                version: format!("1.{minor}"),
                bin,
                lab,
            });
        }
        for minor in NEWER {
            let bin = format!("{DIR}/kubectl.1.{minor}");
            if Path::new(&bin).exists() {
                v.push(Kubectl {
                    version: format!("1.{minor}"),
                    bin,
                    lab,
                });
            }
        }
        v
    }

    /// The given versions ("1.27", …), each of which must be there.
    pub fn kubectls_of(&self, versions: &[&str]) -> Vec<Kubectl<'_>> {
        let mut all = self.kubectls();
        versions
            .iter()
            .map(|want| {
                let i = all
                    .iter()
                    .position(|k| k.version == *want)
                    .unwrap_or_else(|| panic!("no kubectl {want} in {DIR}"));
                all.swap_remove(i)
            })
            .collect()
    }
}

impl Kubectl<'_> {
    /// A `Command` for this kubectl with the lab's kubeconfig, to spawn.
    pub fn command(&self) -> Command {
        let mut c = Command::new(&self.bin);
        c.env("KUBECONFIG", &self.lab.kubeconfig);
        c
    }

    /// Runs it with `args` to its end.
    pub fn run<S: AsRef<str>>(&self, args: &[S]) -> Output {
        self.command()
            .args(args.iter().map(AsRef::as_ref))
            .output()
            .unwrap_or_else(|e| panic!("run {}: {e}", self.bin))
    }

    /// Runs it with `args`, which must succeed; returns stdout.
    #[track_caller]
    pub fn ok<S: AsRef<str>>(&self, args: &[S]) -> String {
        let o = self.run(args);
        let shown: Vec<&str> = args.iter().map(AsRef::as_ref).collect();
        assert!(
            o.status.success(),
            "kubectl {} {shown:?} failed ({}):\n{}",
            self.version,
            o.status,
            out_err(&o)
        );
        out(&o)
    }
}

/// Runs `f` with each kubectl in turn; a failure names the version it failed with.
pub fn per_version<'a>(kubectls: Vec<Kubectl<'a>>, mut f: impl FnMut(&Kubectl<'a>)) {
    for k in &kubectls {
        if let Err(panic) = catch_unwind(AssertUnwindSafe(|| f(k))) {
            eprintln!("(that failure was with kubectl {}, {})", k.version, k.bin);
            resume_unwind(panic);
        }
    }
}
