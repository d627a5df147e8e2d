//! The self-test switch of the suite (cargo feature `selftest`, test builds only).
//!
//! `scripts/selftest.sh` turns one attack at a time off and checks that some test or
//! scenario notices. What to turn off comes from the environment variable
//! `DBFT_SIM_DISABLE`, a comma-separated list of
//!
//! - `<name>`: the attack becomes a no-op. `<name>` is a behaviour's name
//!   (`withhold-commits`, `replay`, …) — it is removed from every node before the run, so it
//!   neither acts nor emits its marks — or `twins` (both halves of every twin pair run as
//!   one honest replica: the original delivers to everyone, the twin process sends nothing)
//!   or `compromised-keys` (attacker processes send nothing and mark nothing);
//! - `<name>:effect`: the attack runs and emits every mark it would, but what it sends is
//!   what the honest replica would have sent (twins: the twin sends nothing and the
//!   original delivers to everyone; compromised keys: the attacker sends nothing). A suite
//!   that notices this asserts what the attack does to the run, not only that its code ran.
//!
//! This is the only place the simulator reads its environment. Without the feature `off`
//! is a constant `Off::No`: normal builds, their runs and digests are untouched.

/// The switches besides the behaviours' own names.
pub const TWINS: &str = "twins";
pub const COMPROMISED_KEYS: &str = "compromised-keys";

/// How much of an attack the self-test turned off.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Off {
    /// Nothing: the attack runs.
    No,
    /// The whole attack, marks included.
    Whole,
    /// Its effect on what is sent; its marks stay.
    Effect,
}

/// How much of `what` the self-test turned off for this process.
#[cfg(feature = "selftest")]
pub fn off(what: &str) -> Off {
    use std::sync::OnceLock;
    static OFF: OnceLock<Vec<(String, Off)>> = OnceLock::new();
    OFF.get_or_init(|| {
        std::env::var("DBFT_SIM_DISABLE")
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| match s.strip_suffix(":effect") {
                Some(name) => (name.to_string(), Off::Effect),
                None => (s.to_string(), Off::Whole),
            })
            .collect()
    })
    .iter()
    .find(|(name, _)| name == what)
    .map_or(Off::No, |(_, o)| *o)
}

/// How much of `what` the self-test turned off for this process: nothing, without the
/// feature.
#[cfg(not(feature = "selftest"))]
#[inline(always)]
pub fn off(_what: &str) -> Off {
    Off::No
}

#[cfg(test)]
mod tests {
    use crate::byzantine::Behaviour;
    use crate::engine::time::Micros;

    /// One of every behaviour. The match below stops compiling when a behaviour is added,
    /// until it is listed here too.
    fn every_behaviour() -> Vec<Behaviour> {
        let p: Micros = 1_000;
        let all = vec![
            Behaviour::Silent,
            Behaviour::Equivocate { a_to: vec![], b_to: vec![] },
            Behaviour::DoubleSign,
            Behaviour::WithholdCommits { delay: p, to: None },
            Behaviour::ChangeViewFlood { period: p, forged_view: None, stale: false },
            Behaviour::Replay { period: p },
            Behaviour::Forge { period: p },
            Behaviour::SelectiveDelivery { to: vec![] },
            Behaviour::GarbageCommits { period: p },
            Behaviour::StaleSigner { period: p },
            Behaviour::StaleChain { period: p, from_height: 1 },
            Behaviour::ForgeRecovery { period: p },
            Behaviour::NonPrimaryRequest { period: p },
            Behaviour::PrimaryResponse { to: vec![] },
            Behaviour::FutureTimestamp { timestamp_ms: u64::MAX },
        ];
        for b in &all {
            match b {
                Behaviour::Silent
                | Behaviour::Equivocate { .. }
                | Behaviour::DoubleSign
                | Behaviour::WithholdCommits { .. }
                | Behaviour::ChangeViewFlood { .. }
                | Behaviour::Replay { .. }
                | Behaviour::Forge { .. }
                | Behaviour::SelectiveDelivery { .. }
                | Behaviour::GarbageCommits { .. }
                | Behaviour::StaleSigner { .. }
                | Behaviour::StaleChain { .. }
                | Behaviour::ForgeRecovery { .. }
                | Behaviour::NonPrimaryRequest { .. }
                | Behaviour::PrimaryResponse { .. }
                | Behaviour::FutureTimestamp { .. } => {}
            }
        }
        all
    }

    /// `scripts/selftest.sh` reads the switch names from `Behaviour::name`'s source (the
    /// `=> "name"` arms); the effect switches are spelled in the behaviours' code. Both must
    /// name every behaviour exactly, or an attack would silently stay on.
    #[test]
    fn every_behaviour_name_is_where_the_selftest_reads_it() {
        let source = include_str!("behaviour.rs");
        let body = &source[source.find("fn name(&self)").expect("Behaviour::name")..];
        let body = &body[..body.find("\n    }\n").expect("the end of Behaviour::name")];
        let arms: Vec<&str> = body.split("=> \"").skip(1).filter_map(|a| a.split('"').next()).collect();
        let names: Vec<&str> = every_behaviour().iter().map(|b| b.name()).collect();
        assert_eq!(arms, names, "the script would read these names");
        let code = [include_str!("mod.rs"), include_str!("rewrite.rs"), include_str!("inject.rs")].concat();
        let mut switched = Vec::new();
        for pattern in ["effect_off(\"", "effect_off.push(\""] {
            switched.extend(code.split(pattern).skip(1).filter_map(|a| a.split('"').next()));
        }
        assert!(switched.len() >= names.len(), "{switched:?}");
        for s in &switched {
            assert!(names.contains(s), "effect switch {s:?} names no behaviour");
        }
        for n in &names {
            assert!(switched.contains(n), "behaviour {n} has no effect switch");
        }
    }
}
