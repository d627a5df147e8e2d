//! `byzantine`, `twins` and `compromised_keys` behaviours: what each faulty process does,
//! from when, and which nodes count as honest for the invariants.

use super::{MIN_BEHAVIOUR_PERIOD, Names, err, time_ms};
use crate::byzantine::Behaviour;
use crate::engine::time::SimTime;
use crate::scenario::error::Result;
use crate::scenario::schema;
use crate::scenario::spec::Role;

/// Per node: its behaviours, when they start, and whether it counts as honest.
pub(super) struct Faulty {
    pub behaviours: Vec<Vec<Behaviour>>,
    pub byzantine_from: Vec<SimTime>,
    pub honest: Vec<bool>,
}

pub(super) fn resolve_byzantine(
    s: &schema::Scenario,
    names: &[String],
    roles: &[Role],
    lookup: &Names,
) -> Result<Faulty> {
    let n_nodes = names.len();
    let mut behaviours: Vec<Vec<Behaviour>> = vec![Vec::new(); n_nodes];
    let mut byzantine_from = vec![SimTime::ZERO; n_nodes];
    let mut honest: Vec<bool> =
        roles.iter().map(|r| matches!(r, Role::Validator { .. } | Role::Candidate { .. } | Role::Watcher)).collect();
    for (i, b) in s.byzantine.as_deref().unwrap_or(&[]).iter().enumerate() {
        let path = format!("byzantine[{i}]");
        let node = lookup.node(&format!("{path}.node"), &b.node)?.idx();
        if matches!(roles[node], Role::Twin { .. } | Role::Attacker { .. }) {
            return err(
                format!("{path}.node"),
                format!(
                    "{} is a twin or an attacker: its behaviours belong in `twins` or `compromised_keys`",
                    names[node]
                ),
            );
        }
        if !behaviours[node].is_empty() {
            return err(format!("{path}.node"), format!("{} already has behaviours", names[node]));
        }
        if b.behaviours.is_empty() {
            return err(format!("{path}.behaviours"), "must list at least one behaviour");
        }
        if let Some(f) = b.from_ms {
            byzantine_from[node] = time_ms(&format!("{path}.from_ms"), f)?;
        }
        behaviours[node] = resolve_behaviours(&format!("{path}.behaviours"), &b.behaviours, lookup)?;
        honest[node] = false;
    }
    let twin_base =
        names.len() - s.twins.as_deref().map_or(0, |t| t.len()) - s.compromised_keys.as_deref().map_or(0, |c| c.len());
    for (i, t) in s.twins.as_deref().unwrap_or(&[]).iter().enumerate() {
        let path = format!("twins[{i}]");
        let twin = twin_base + i;
        let Role::Twin { of } = roles[twin] else {
            continue;
        };
        let to = lookup.nodes(&format!("{path}.to"), &t.to)?;
        let twin_to = lookup.nodes(&format!("{path}.twin_to"), &t.twin_to)?;
        if !behaviours[of].is_empty() {
            return err(format!("{path}.node"), format!("{} already has behaviours", names[of]));
        }
        behaviours[of] = vec![Behaviour::SelectiveDelivery { to }];
        behaviours[twin] = vec![Behaviour::SelectiveDelivery { to: twin_to }];
        honest[of] = false;
    }
    let attacker_base = twin_base + s.twins.as_deref().map_or(0, |t| t.len());
    for (i, c) in s.compromised_keys.as_deref().unwrap_or(&[]).iter().enumerate() {
        let path = format!("compromised_keys[{i}]");
        let node = attacker_base + i;
        if c.behaviours.is_empty() {
            // An attacker that only runs the honest replica with the stolen key is a twin.
            return err(
                format!("{path}.behaviours"),
                "must list at least one behaviour (a copy of the key running the honest replica is a `twins` entry)",
            );
        }
        behaviours[node] = resolve_behaviours(&format!("{path}.behaviours"), &c.behaviours, lookup)?;
        if let Some(f) = c.from_ms {
            byzantine_from[node] = time_ms(&format!("{path}.from_ms"), f)?;
        }
    }
    Ok(Faulty { behaviours, byzantine_from, honest })
}

pub(super) fn resolve_behaviours(path: &str, list: &[schema::BehaviourSpec], names: &Names) -> Result<Vec<Behaviour>> {
    use schema::BehaviourSpec as B;
    let mut out = Vec::new();
    for (i, b) in list.iter().enumerate() {
        let p = format!("{path}[{i}]");
        let period = |ms: f64| -> Result<u64> {
            let t = time_ms(&format!("{p}.period_ms"), ms)?;
            // A floor keeps the work per simulated second bounded: a sub-millisecond period
            // would schedule millions of actions before the run's first block.
            if t.0 < MIN_BEHAVIOUR_PERIOD.0 {
                return err(format!("{p}.period_ms"), "must be at least 1 ms");
            }
            Ok(t.0)
        };
        out.push(match b {
            B::Silent {} => Behaviour::Silent,
            B::DoubleSign {} => Behaviour::DoubleSign,
            B::Equivocate { a_to, b_to } => Behaviour::Equivocate {
                a_to: names.nodes(&format!("{p}.a_to"), a_to.as_deref().unwrap_or(&[]))?,
                b_to: names.nodes(&format!("{p}.b_to"), b_to)?,
            },
            B::WithholdCommits { delay_ms, to } => Behaviour::WithholdCommits {
                delay: time_ms(&format!("{p}.delay_ms"), *delay_ms)?.0,
                to: to.as_ref().map(|t| names.nodes(&format!("{p}.to"), t)).transpose()?,
            },
            B::ChangeViewFlood { period_ms, forged_view, stale } => Behaviour::ChangeViewFlood {
                period: period(*period_ms)?,
                forged_view: *forged_view,
                stale: stale.unwrap_or(false),
            },
            B::Replay { period_ms } => Behaviour::Replay { period: period(*period_ms)? },
            B::Forge { period_ms } => Behaviour::Forge { period: period(*period_ms)? },
            B::SelectiveDelivery { to } => Behaviour::SelectiveDelivery { to: names.nodes(&format!("{p}.to"), to)? },
            B::GarbageCommits { period_ms } => Behaviour::GarbageCommits { period: period(*period_ms)? },
            B::ForgeRecovery { period_ms } => Behaviour::ForgeRecovery { period: period(*period_ms)? },
            B::NonPrimaryRequest { period_ms } => Behaviour::NonPrimaryRequest { period: period(*period_ms)? },
            B::PrimaryResponse { to } => Behaviour::PrimaryResponse { to: names.nodes(&format!("{p}.to"), to)? },
            B::FutureTimestamp { timestamp_ms } => {
                Behaviour::FutureTimestamp { timestamp_ms: timestamp_ms.unwrap_or(u64::MAX) }
            }
            B::StaleSigner { period_ms } => Behaviour::StaleSigner { period: period(*period_ms)? },
            B::StaleChain { period_ms, from_height } => {
                if *from_height == 0 {
                    return err(format!("{p}.from_height"), "must be at least 1 (genesis cannot be forked)");
                }
                Behaviour::StaleChain { period: period(*period_ms)?, from_height: *from_height }
            }
        });
    }
    Ok(out)
}
