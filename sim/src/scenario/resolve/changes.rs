//! `changes`: validator-set change transactions, when they are submitted and to whom.

use super::*;
use crate::protocol::crypto::KeyId;
use crate::validators::change::SetChange;

/// Resolves the change transactions. A change names keyed nodes (genesis validators or
/// candidates; node index = key), is submitted before the run ends, and — read in the
/// order listed, from the genesis set — never leaves the set empty.
pub(super) fn resolve_changes(
    list: &[schema::ChangeSpec],
    names: &Names,
    validators: usize,
    keyed: usize,
    stop: &StopSpec,
    start_height: u32,
) -> Result<Vec<ChangeSubmission>> {
    use schema::ChangeSpec as C;
    let key = |path: String, r: &NodeRef| -> Result<KeyId> {
        let n = names.node(&path, r)?;
        if n.idx() >= keyed {
            return err(
                path,
                format!("{} holds no validator key (name a validator or a candidate)", names.names[n.idx()]),
            );
        }
        Ok(KeyId(n.0))
    };
    let mut set: std::collections::BTreeSet<KeyId> = (0..validators as u32).map(KeyId).collect();
    let mut revoked = std::collections::BTreeSet::new();
    let mut out = Vec::new();
    for (i, c) in list.iter().enumerate() {
        let path = format!("changes[{i}]");
        let change = match c {
            C::Join { node, .. } => SetChange::Join { key: key(format!("{path}.node"), node)? },
            C::Leave { node, .. } => SetChange::Leave { key: key(format!("{path}.node"), node)? },
            C::Eject { node, .. } => SetChange::Eject { key: key(format!("{path}.node"), node)? },
            C::Rotate { from, to, .. } => {
                let (from, to) = (key(format!("{path}.from"), from)?, key(format!("{path}.to"), to)?);
                if from == to {
                    return err(format!("{path}.to"), "must differ from `from`");
                }
                SetChange::Rotate { from, to }
            }
            C::Replace { nodes, .. } => {
                if nodes.is_empty() {
                    return err(format!("{path}.nodes"), "the set would become empty");
                }
                let mut keys = Vec::new();
                for (j, r) in nodes.iter().enumerate() {
                    let k = key(format!("{path}.nodes[{j}]"), r)?;
                    if keys.contains(&k) {
                        return err(format!("{path}.nodes[{j}]"), "named twice");
                    }
                    keys.push(k);
                }
                SetChange::Replace { keys }
            }
        };
        // Read in listed order, the set must never be left empty.
        let empties = match &change {
            SetChange::Leave { key } | SetChange::Eject { key } => set.len() == 1 && set.contains(key),
            SetChange::Replace { keys } => keys.iter().all(|k| revoked.contains(k)),
            _ => false,
        };
        if empties {
            return err(path, "the set would become empty");
        }
        change.apply(&mut set, &mut revoked);
        let (at_ms, at_height, via, only) = c.when();
        let when = match (at_ms, at_height) {
            (Some(t), None) => {
                let t = time_ms(&format!("{path}.at_ms"), t)?;
                if t >= stop.duration {
                    return err(
                        format!("{path}.at_ms"),
                        format!("after the run ends (stop.duration_ms = {})", stop.duration.as_ms_f64()),
                    );
                }
                ChangeTrigger::At(t)
            }
            (None, Some(0)) => return err(format!("{path}.at_height"), "must be at least 1"),
            (None, Some(h)) if h < start_height => {
                return err(
                    format!("{path}.at_height"),
                    format!(
                        "must be at least start_height ({start_height}): heights below it are final before the run"
                    ),
                );
            }
            (None, Some(h)) => {
                if let Some(target) = stop.heights
                    && h >= target
                {
                    return err(
                        format!("{path}.at_height"),
                        format!(
                            "must be below stop.heights ({target}): a change at height h is submitted when a node persists h, and the run ends when {target} is persisted"
                        ),
                    );
                }
                ChangeTrigger::Height(h)
            }
            _ => return err(path, "give exactly one of at_ms and at_height"),
        };
        let origin = match via {
            Some(r) => names.node(&format!("{path}.via"), r)?,
            None => NodeId(match &change {
                SetChange::Join { key } | SetChange::Leave { key } | SetChange::Eject { key } => key.0,
                SetChange::Rotate { from, .. } => from.0,
                SetChange::Replace { keys } => keys[0].0,
            }),
        };
        let only = only.map(|l| names.nodes(&format!("{path}.only"), l)).transpose()?;
        if let Some((j, n)) = only.as_ref().and_then(|l| l.iter().enumerate().find(|&(j, n)| l[..j].contains(n))) {
            return err(format!("{path}.only[{j}]"), format!("{} is named twice", names.names[n.idx()]));
        }
        out.push(ChangeSubmission { change, when, origin, only });
    }
    Ok(out)
}
