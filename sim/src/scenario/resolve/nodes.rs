//! `validators`, `twins` and `compromised_keys`: every node of the run, its name and its
//! role. Counts are checked before any name is built, so a huge count costs nothing.

use super::{DEFAULT_VALIDATORS, MAX_NODES, Names, err, push_unique, valid_name};
use crate::scenario::error::Result;
use crate::scenario::schema::{self, NodeRef};
use crate::scenario::spec::Role;

/// The nodes of a run in node-index order: genesis validators, candidates, watchers, then
/// twins and attackers (extra processes named after the keys they hold).
pub(super) struct NodeTable {
    pub names: Vec<String>,
    pub roles: Vec<Role>,
    pub validators: usize,
    pub candidates: usize,
}

pub(super) fn resolve_nodes(s: &schema::Scenario) -> Result<NodeTable> {
    // Validators, candidates and watchers. Counts are checked before any name is built.
    let too_many = |n: u32| n > MAX_NODES;
    let limit_msg = format!("at most {MAX_NODES}");
    let (mut names, watchers, candidate_names) = match &s.validators {
        None => ((0..DEFAULT_VALIDATORS).map(|i| format!("R{i}")).collect::<Vec<_>>(), 0, Vec::new()),
        Some(schema::Validators::Count(n)) => {
            if *n == 0 {
                return err("validators", "must be at least 1");
            }
            if too_many(*n) {
                return err("validators", format!("{limit_msg} validators"));
            }
            ((0..*n).map(|i| format!("R{i}")).collect(), 0, Vec::new())
        }
        Some(schema::Validators::Names(list)) => (list.clone(), 0, Vec::new()),
        Some(schema::Validators::Spec(spec)) => {
            let names = match (&spec.count, &spec.names) {
                (Some(_), Some(_)) => {
                    return err("validators", "give either count or names, not both");
                }
                (Some(0), None) => return err("validators.count", "must be at least 1"),
                (Some(n), None) if too_many(*n) => return err("validators.count", format!("{limit_msg} validators")),
                (Some(n), None) => (0..*n).map(|i| format!("R{i}")).collect(),
                (None, Some(l)) => l.clone(),
                (None, None) => (0..DEFAULT_VALIDATORS).map(|i| format!("R{i}")).collect(),
            };
            let watchers = spec.watchers.unwrap_or(0);
            if too_many(watchers) {
                return err("validators.watchers", format!("{limit_msg} watchers"));
            }
            let candidates = match &spec.candidates {
                None => Vec::new(),
                Some(schema::CountOrNames::Count(n)) if too_many(*n) => {
                    return err("validators.candidates", format!("{limit_msg} candidates"));
                }
                Some(schema::CountOrNames::Count(n)) => (0..*n).map(|i| format!("C{i}")).collect(),
                Some(schema::CountOrNames::Names(l)) => l.clone(),
            };
            (names, watchers, candidates)
        }
    };
    if names.is_empty() {
        return err("validators", "must list at least one validator");
    }
    if names.len() as u32 > MAX_NODES || candidate_names.len() as u32 > MAX_NODES {
        return err("validators", format!("{limit_msg} validators and {limit_msg} candidates"));
    }
    let validators = names.len();
    let candidates = candidate_names.len();
    for (i, n) in names.iter().enumerate() {
        if !valid_name(n) {
            return err(format!("validators[{i}]"), "node names are 1–64 letters, digits, '.', '_' or '-'");
        }
    }
    for (i, n) in candidate_names.iter().enumerate() {
        if !valid_name(n) {
            return err(format!("validators.candidates[{i}]"), "node names are 1–64 letters, digits, '.', '_' or '-'");
        }
    }
    names.extend(candidate_names);
    names.extend((0..watchers).map(|i| format!("W{i}")));
    for (i, n) in names.iter().enumerate() {
        if names[..i].contains(n) {
            return err("validators", format!("duplicate node name \"{n}\""));
        }
    }
    let keyed = validators + candidates;
    // Identity-level Byzantine processes: twins and attackers with a leaked key. They are
    // extra nodes named after the keyed node whose key they hold.
    let mut roles: Vec<Role> = (0..names.len())
        .map(|i| match i {
            i if i < validators => Role::Validator { index: i },
            i if i < keyed => Role::Candidate { key: i },
            _ => Role::Watcher,
        })
        .collect();
    let keyed_names = Names { names: names[..keyed].to_vec() };
    // A key holder among the keyed nodes; a watcher is named as one that holds no key.
    let watchers: Vec<String> = names[keyed..].to_vec();
    let keyed_node = |path: &str, r: &NodeRef| -> Result<usize> {
        match keyed_names.node(path, r) {
            Ok(n) => Ok(n.idx()),
            Err(e) => match r {
                NodeRef::Name(n) if watchers.contains(n) => {
                    err(path, format!("{n} holds no validator key (a watcher): name a validator or candidate"))
                }
                _ => Err(e),
            },
        }
    };
    for (i, t) in s.twins.as_deref().unwrap_or(&[]).iter().enumerate() {
        let path = format!("twins[{i}].node");
        let of = keyed_node(&path, &t.node)?;
        let name = format!("{}.twin", names[of]);
        push_unique(&mut names, name, &path)?;
        roles.push(Role::Twin { of });
    }
    for (i, c) in s.compromised_keys.as_deref().unwrap_or(&[]).iter().enumerate() {
        let path = format!("compromised_keys[{i}].key_of");
        let list = c.key_of.list();
        if list.is_empty() {
            return err(path, "must name at least one validator or candidate");
        }
        let mut keys_of = Vec::new();
        for (j, r) in list.iter().enumerate() {
            let p = if matches!(c.key_of, schema::OneOrMany::One(_)) { path.clone() } else { format!("{path}[{j}]") };
            let k = keyed_node(&p, r)?;
            if keys_of.contains(&k) {
                return err(p, format!("{} is named twice", names[k]));
            }
            keys_of.push(k);
        }
        let owner: Vec<&str> = keys_of.iter().map(|&k| names[k].as_str()).collect();
        let name = format!("{}.attacker", owner.join("_"));
        push_unique(&mut names, name, &path)?;
        roles.push(Role::Attacker { keys_of });
    }
    Ok(NodeTable { names, roles, validators, candidates })
}
