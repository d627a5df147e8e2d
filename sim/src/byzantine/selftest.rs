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
