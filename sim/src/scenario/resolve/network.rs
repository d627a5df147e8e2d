//! `network` (latency, loss, duplication, bandwidth, topology, partitions, degradations)
//! and `rules` (scripted fates of chosen messages).

use super::*;
use crate::net::latency::Latency;
use crate::net::rules::{MsgMatch, Rule, RuleAction};
use crate::net::topology::TopologySpec;
use crate::net::{Degradation, NetworkOptions, Partition};
use crate::protocol::MsgKind;

fn message_kind(path: &str, name: &str) -> Result<MsgKind> {
    MsgKind::parse(name).filter(|k| *k != MsgKind::Other).ok_or_else(|| {
        let known: Vec<&str> = MsgKind::ALL.iter().filter(|k| **k != MsgKind::Other).map(|k| k.name()).collect();
        ScenarioError::new(path, format!("unknown message type \"{name}\" (known: {})", known.join(", ")))
    })
}

pub(super) fn resolve_rules(rules: &[schema::MessageRule], names: &Names) -> Result<Vec<Rule>> {
    let mut out = Vec::new();
    for (i, r) in rules.iter().enumerate() {
        let path = format!("rules[{i}]");
        let m = r.matcher.clone().unwrap_or_default();
        let mp = format!("{path}.match");
        let from = m.from.as_ref().map(|v| names.nodes(&format!("{mp}.from"), v)).transpose()?;
        let to = m.to.as_ref().map(|v| names.nodes(&format!("{mp}.to"), v)).transpose()?;
        let kinds = match &m.types {
            None => None,
            Some(v) => Some(
                v.iter()
                    .enumerate()
                    .map(|(j, t)| message_kind(&format!("{mp}.types[{j}]"), t))
                    .collect::<Result<Vec<_>>>()?,
            ),
        };
        let window_from = m.from_ms.map(|x| time_ms(&format!("{mp}.from_ms"), x)).transpose()?.unwrap_or(SimTime::ZERO);
        let window_until =
            m.until_ms.map(|x| time_ms(&format!("{mp}.until_ms"), x)).transpose()?.unwrap_or(SimTime::MAX);
        if window_until <= window_from {
            return err(format!("{mp}.until_ms"), "must be after from_ms");
        }
        if m.nth == Some(0) {
            return err(format!("{mp}.nth"), "counts from 1");
        }
        let ap = format!("{path}.action");
        let action = match &r.action {
            schema::RuleAction::Drop {} => RuleAction::Drop,
            schema::RuleAction::Duplicate {} => RuleAction::Duplicate,
            schema::RuleAction::DeliverNow {} => RuleAction::DeliverNow,
            schema::RuleAction::Delay { ms } => RuleAction::Delay { by: time_ms(&format!("{ap}.ms"), *ms)?.0 },
            schema::RuleAction::Hold { until_ms: Some(t), until_sent: None } => {
                RuleAction::HoldUntil { until: time_ms(&format!("{ap}.until_ms"), *t)? }
            }
            schema::RuleAction::Hold { until_ms: None, until_sent: Some(c) } => RuleAction::HoldUntilSent {
                node: names.node(&format!("{ap}.until_sent.node"), &c.node)?,
                kind: c.kind.as_deref().map(|k| message_kind(&format!("{ap}.until_sent.type"), k)).transpose()?,
            },
            schema::RuleAction::Hold { .. } => {
                return err(ap, "hold needs exactly one of until_ms or until_sent");
            }
        };
        out.push(Rule {
            name: r.name.clone().unwrap_or_else(|| format!("rule {i}")),
            matcher: MsgMatch {
                from,
                to,
                kinds,
                height: m.height,
                view: m.view,
                window_from,
                window_until,
                nth: m.nth,
            },
            action,
        });
    }
    Ok(out)
}

fn resolve_latency(l: &Latency) -> Result<Latency> {
    const P: &str = "network.latency";
    Ok(match *l {
        Latency::Constant { ms } => Latency::Constant { ms: non_negative(&format!("{P}.ms"), ms)? },
        Latency::Uniform { min_ms, max_ms } => {
            let min_ms = non_negative(&format!("{P}.min_ms"), min_ms)?;
            let max_ms = non_negative(&format!("{P}.max_ms"), max_ms)?;
            if max_ms < min_ms {
                return err(format!("{P}.max_ms"), "must be ≥ min_ms");
            }
            Latency::Uniform { min_ms, max_ms }
        }
        Latency::Normal { mean_ms, stddev_ms } => Latency::Normal {
            mean_ms: positive(&format!("{P}.mean_ms"), mean_ms)?,
            stddev_ms: non_negative(&format!("{P}.stddev_ms"), stddev_ms)?,
        },
        Latency::LogNormal { mean_ms, sigma } => Latency::LogNormal {
            mean_ms: positive(&format!("{P}.mean_ms"), mean_ms)?,
            sigma: non_negative(&format!("{P}.sigma"), sigma)?,
        },
        Latency::Pareto { scale_ms, shape, cap_ms } => {
            let scale_ms = positive(&format!("{P}.scale_ms"), scale_ms)?;
            let shape = positive(&format!("{P}.shape"), shape)?;
            if let Some(c) = cap_ms
                && (!c.is_finite() || c < scale_ms)
            {
                return err(format!("{P}.cap_ms"), "must be ≥ scale_ms");
            }
            Latency::Pareto { scale_ms, shape, cap_ms }
        }
    })
}

pub(super) fn resolve_network(n: schema::Network, names: &Names, n_nodes: usize) -> Result<NetworkOptions> {
    let preset = n.preset.as_deref().unwrap_or("wan");
    let mut opts = NetworkOptions::preset(preset).ok_or_else(|| {
        ScenarioError::new(
            "network.preset",
            format!("unknown preset \"{preset}\" (known: {})", crate::net::Preset::expected()),
        )
    })?;
    if let Some(l) = &n.latency {
        opts.latency = resolve_latency(l)?;
    }
    if let Some(p) = n.loss {
        opts.loss = probability("network.loss", p)?;
    }
    if let Some(p) = n.duplicate {
        opts.duplicate = probability("network.duplicate", p)?;
    }
    if let Some(b) = n.bandwidth_mbps {
        let b = positive("network.bandwidth_mbps", b)?;
        opts.bandwidth_bytes_per_s = Some(((b * 1_000_000.0 / 8.0).round() as u64).max(1));
    }
    if let Some(t) = &n.topology {
        opts.topology = match t {
            schema::Topology::Mesh {} => TopologySpec::Mesh,
            schema::Topology::Ring {} => TopologySpec::Ring,
            schema::Topology::Star { hub } => TopologySpec::Star { hub: names.node("network.topology.hub", hub)?.0 },
            schema::Topology::RandomRegular { degree } => {
                if n_nodes < 2 {
                    return err("network.topology", "a random-regular overlay needs at least 2 nodes");
                }
                if *degree == 0 || *degree as usize >= n_nodes {
                    return err(
                        "network.topology.degree",
                        format!("must be at least 1 and less than the number of nodes ({n_nodes})"),
                    );
                }
                TopologySpec::RandomRegular { degree: *degree }
            }
            schema::Topology::Edges { edges } => {
                let mut out = Vec::new();
                for (i, (a, b)) in edges.iter().enumerate() {
                    let path = format!("network.topology.edges[{i}]");
                    out.push((names.node(&path, a)?.0, names.node(&path, b)?.0));
                }
                TopologySpec::Edges { edges: out }
            }
        };
    }
    if let Some(r) = &n.relay {
        opts.relay = crate::net::Relay::parse(r).ok_or_else(|| {
            ScenarioError::new(
                "network.relay",
                format!("unknown relay \"{r}\" (known: {})", crate::net::Relay::expected()),
            )
        })?;
    }
    opts.fetch_txs = n.fetch_txs.unwrap_or(opts.relay.is_flood());
    if let Some(r) = n.resend_ms {
        if !opts.relay.is_flood() {
            return err("network.resend_ms", "needs \"relay\": \"flood\"");
        }
        let r = positive("network.resend_ms", r)?;
        opts.resend_us = Some(SimTime::from_ms_f64(r).0.max(1));
    }
    for (i, p) in n.partitions.unwrap_or_default().iter().enumerate() {
        let path = format!("network.partitions[{i}]");
        if p.groups.is_empty() {
            return err(format!("{path}.groups"), "must list at least one group");
        }
        let mut groups = Vec::new();
        for (g, group) in p.groups.iter().enumerate() {
            if group.is_empty() {
                return err(format!("{path}.groups[{g}]"), "a group must name at least one node");
            }
            let ids = names.nodes(&format!("{path}.groups[{g}]"), group)?;
            for id in &ids {
                if groups.iter().any(|x: &Vec<NodeId>| x.contains(id)) {
                    return err(
                        format!("{path}.groups[{g}]"),
                        format!("node {} is in two groups", names.names[id.idx()]),
                    );
                }
            }
            groups.push(ids);
        }
        let from = time_ms(&format!("{path}.from_ms"), p.from_ms)?;
        let until = match p.until_ms {
            None => SimTime::MAX,
            Some(u) => time_ms(&format!("{path}.until_ms"), u)?,
        };
        if until <= from {
            return err(format!("{path}.until_ms"), "must be after from_ms");
        }
        opts.partitions.push(Partition { groups, from, until });
    }
    for (i, d) in n.degradations.unwrap_or_default().iter().enumerate() {
        let path = format!("network.degradations[{i}]");
        let nodes = names.nodes(&format!("{path}.nodes"), d.nodes.as_deref().unwrap_or(&[]))?;
        let from = time_ms(&format!("{path}.from_ms"), d.from_ms)?;
        let until = time_ms(&format!("{path}.until_ms"), d.until_ms)?;
        if until <= from {
            return err(format!("{path}.until_ms"), "must be after from_ms");
        }
        opts.degradations.push(Degradation {
            nodes,
            from,
            until,
            loss: probability(&format!("{path}.loss"), d.loss.unwrap_or(0.0))?,
            latency_factor: positive(&format!("{path}.latency_factor"), d.latency_factor.unwrap_or(1.0))?,
        });
    }
    Ok(opts)
}
