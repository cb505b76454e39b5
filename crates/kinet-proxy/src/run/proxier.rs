//! The proxier: applies the iptables or nftables rulesets of a state and
//! remembers what it applied, for the next partial sync (upstream's
//! `syncProxyRules` in pkg/proxy/{iptables,nftables}/proxier.go).

use std::collections::BTreeSet;

use anyhow::{Context, Result};

use super::apply::{self, UdpSnapshot};
use super::config::Mode;
use super::klog;
use crate::iptables::{Config, Ruleset, saved_chains};
use crate::model::{ProxyState, ServiceKey};
use crate::nftables::{NftRuleset, cleanup_transaction};

/// The iptables or nftables proxier: applies rulesets and remembers what it applied.
pub struct Proxier {
    pub mode: Mode,
    pub cfg: Config,
    pub ipt: Option<Ruleset>,
    pub nft: Option<NftRuleset>,
    pub nft_first: bool,
    /// nftables chains left empty by a sync, deleted by a later one.
    pub nft_stale: Vec<String>,
    pub udp: UdpSnapshot,
}

impl Proxier {
    /// One sync; a failure leaves the proxier needing a full one.
    pub fn sync(
        &mut self,
        state: &ProxyState,
        changed: &BTreeSet<ServiceKey>,
        full: bool,
    ) -> Result<()> {
        let result = match self.mode {
            Mode::Nftables => self.sync_nft(state, changed, full),
            _ => self.sync_iptables(state, changed, full),
        };
        if result.is_err() {
            self.ipt = None;
            self.nft = None;
            return result;
        }
        let next = UdpSnapshot::of(state);
        for args in self.udp.cleanup(&next) {
            if let Err(e) = apply::conntrack_delete(&args) {
                klog::error(
                    "cleanup.go:67",
                    "Failed to delete stale service connections",
                    &[("args", &args.join(" ")), ("err", &e)],
                );
            }
        }
        self.udp = next;
        result
    }

    fn sync_iptables(
        &mut self,
        state: &ProxyState,
        changed: &BTreeSet<ServiceKey>,
        full: bool,
    ) -> Result<()> {
        let full = full || self.ipt.is_none();
        let text = match (&mut self.ipt, full) {
            (Some(rs), false) => {
                let delta = rs.update(state, &self.cfg, changed);
                rs.delta_restore(&delta)
            }
            _ => {
                let save = apply::iptables_save("nat")?;
                let existing = saved_chains(&save, "nat");
                let rs = Ruleset::build(state, &self.cfg);
                let text = rs.full_restore(&existing);
                self.ipt = Some(rs);
                text
            }
        };
        klog::info_v(
            9,
            "proxier.go:1494",
            "Restoring iptables",
            &[("rules", &text)],
        );
        apply::iptables_restore(&text).context("Failed to execute iptables-restore")?;
        if full {
            // As upstream, the jumps from the built-in chains are checked on full syncs only.
            apply::ensure_jump_rules()?;
        }
        Ok(())
    }

    fn sync_nft(
        &mut self,
        state: &ProxyState,
        changed: &BTreeSet<ServiceKey>,
        full: bool,
    ) -> Result<()> {
        let sync = match (&mut self.nft, full) {
            (Some(rs), false) => rs.update(state, &self.cfg, changed),
            _ => {
                let (chains, sets) = if self.nft_first {
                    (Vec::new(), Vec::new())
                } else {
                    apply::nft_existing()?
                };
                let rs = NftRuleset::build(state, &self.cfg);
                let sync = rs.full_transaction(&self.cfg, self.nft_first, &chains, &sets);
                self.nft = Some(rs);
                sync
            }
        };
        if !sync.transaction.is_empty() {
            klog::info_v(
                9,
                "proxier.go:1750",
                "Running nftables transaction",
                &[("transaction", &sync.transaction)],
            );
            apply::nft_apply(&sync.transaction).context("nftables sync failed")?;
        }
        self.nft_first = false;
        self.nft_stale.extend(sync.stale_chains);
        Ok(())
    }

    /// Deletes the stale nftables chains no ruleset uses again.
    pub fn cleanup_nft(&mut self) {
        if self.nft_stale.is_empty() {
            return;
        }
        let active: BTreeSet<&str> = self
            .nft
            .as_ref()
            .map(|rs| rs.service_chains().collect())
            .unwrap_or_default();
        let stale: Vec<String> = std::mem::take(&mut self.nft_stale)
            .into_iter()
            .filter(|c| !active.contains(c.as_str()))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        if stale.is_empty() {
            return;
        }
        if let Err(e) = apply::nft_apply(&cleanup_transaction(&stale)) {
            klog::error(
                "proxier.go:1190",
                "Failed to delete stale chains",
                &[("err", &e)],
            );
        }
    }
}
