//! rewrite name: changes the question's name before the next plugins see
//! it, and restores the client's name in the response's question (and, with
//! `answer auto`, in the answers' owner names).

use std::sync::Arc;

use futures::future::BoxFuture;
use hickory_proto::op::Query;
use hickory_proto::rr::Name;

use crate::chain::{Next, Outcome, Plugin};
use crate::config::{self, RewriteMatch};
use crate::server::Request;

/// Every `rewrite` line of a server block: one plugin whose rules apply in
/// the Corefile's order, a matching `stop` rule (the default) ending them.
pub struct Rewrite {
    rules: Vec<config::Rewrite>,
}

fn fq(s: &str) -> String {
    let mut s = s.to_ascii_lowercase();
    if !s.ends_with('.') {
        s.push('.');
    }
    s
}

/// The rewritten name, or `None` when the rule does not match.
pub fn rewrite_name(cfg: &config::Rewrite, name: &str) -> Option<String> {
    let name = name.to_ascii_lowercase();
    match cfg.kind {
        RewriteMatch::Exact => (name == fq(&cfg.from)).then(|| fq(&cfg.to)),
        RewriteMatch::Prefix => name
            .strip_prefix(&cfg.from.to_ascii_lowercase())
            .map(|rest| format!("{}{rest}", cfg.to.to_ascii_lowercase())),
        RewriteMatch::Suffix => {
            let from = cfg.from.to_ascii_lowercase();
            let (n, f) = (name.trim_end_matches('.'), from.trim_end_matches('.'));
            n.strip_suffix(f)
                .map(|head| fq(&format!("{head}{}", cfg.to.trim_end_matches('.'))))
        }
        RewriteMatch::Substring => name.contains(&cfg.from.to_ascii_lowercase()).then(|| {
            name.replacen(
                &cfg.from.to_ascii_lowercase(),
                &cfg.to.to_ascii_lowercase(),
                1,
            )
        }),
        // kinet has no regex engine; a regex rule never matches.
        RewriteMatch::Regex => None,
    }
}

impl Rewrite {
    pub fn new(rules: Vec<config::Rewrite>) -> Self {
        Rewrite { rules }
    }

    /// The name after every matching rule, and whether any answer-auto rule applied.
    pub fn apply(&self, name: &str) -> Option<(String, bool)> {
        let mut cur: Option<(String, bool)> = None;
        for r in &self.rules {
            let from = cur
                .as_ref()
                .map(|c| c.0.clone())
                .unwrap_or_else(|| name.to_string());
            if let Some(n) = rewrite_name(r, &from) {
                let auto = cur.as_ref().is_some_and(|c| c.1)
                    || r.answer_auto
                    || r.kind == RewriteMatch::Exact;
                cur = Some((n, auto));
                if r.stop {
                    break;
                }
            }
        }
        cur
    }
}

impl Plugin for Rewrite {
    fn name(&self) -> &'static str {
        "rewrite"
    }

    fn serve<'a>(&'a self, req: Arc<Request>, next: Next) -> BoxFuture<'a, Outcome> {
        Box::pin(async move {
            let Some((new, auto)) = self.apply(&req.name()) else {
                return next.serve(req).await;
            };
            let Ok(new_name) = Name::from_ascii(&new) else {
                return next.serve(req).await;
            };
            let Some(orig) = req.msg.queries().first().cloned() else {
                return next.serve(req).await;
            };
            let mut changed = (*req).clone();
            let mut q = Query::query(new_name.clone(), orig.query_type());
            q.set_query_class(orig.query_class());
            *changed.msg.queries_mut() = vec![q];
            let mut m = next.serve(Arc::new(changed)).await?;
            *m.queries_mut() = vec![orig.clone()];
            if auto {
                for r in m.answers_mut() {
                    if r.name().to_lowercase() == new_name.to_lowercase() {
                        r.set_name(orig.name().clone());
                    }
                }
            }
            Ok(m)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(kind: RewriteMatch, from: &str, to: &str) -> config::Rewrite {
        config::Rewrite {
            stop: true,
            kind,
            from: from.into(),
            to: to.into(),
            answer_auto: false,
        }
    }

    #[test]
    fn name_rules() {
        let r = rule(RewriteMatch::Exact, "a.example.org", "b.example.org");
        assert_eq!(
            rewrite_name(&r, "A.example.org.").as_deref(),
            Some("b.example.org.")
        );
        assert_eq!(rewrite_name(&r, "c.example.org."), None);
        let r = rule(
            RewriteMatch::Suffix,
            ".example.org",
            ".default.svc.cluster.local",
        );
        assert_eq!(
            rewrite_name(&r, "web.example.org.").as_deref(),
            Some("web.default.svc.cluster.local.")
        );
        let r = rule(RewriteMatch::Prefix, "old-", "new-");
        assert_eq!(
            rewrite_name(&r, "old-web.x.").as_deref(),
            Some("new-web.x.")
        );
        let r = rule(RewriteMatch::Substring, "foo", "bar");
        assert_eq!(rewrite_name(&r, "a.foo.x.").as_deref(), Some("a.bar.x."));
    }

    #[test]
    fn rules_apply_in_order_until_a_stop() {
        let mut first = rule(RewriteMatch::Exact, "a.x", "b.x");
        first.stop = false;
        let second = rule(RewriteMatch::Exact, "b.x", "c.x");
        let third = rule(RewriteMatch::Exact, "c.x", "d.x");
        let rw = Rewrite::new(vec![first, second, third]);
        assert_eq!(rw.apply("a.x.").map(|r| r.0).as_deref(), Some("c.x."));
        assert_eq!(rw.apply("q.x."), None);
    }
}
