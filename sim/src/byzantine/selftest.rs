//! The self-test switch of the suite (cargo feature `selftest`, test builds only).
//!
//! `scripts/selftest.sh` turns one attack at a time into a no-op and checks that some test
//! or scenario notices. The attack to disable comes from the environment variable
//! `DBFT_SIM_DISABLE`: a behaviour's name (`withhold-commits`, `replay`, …), `twins` (both
//! halves of every twin pair run as one honest replica: the original delivers to everyone,
//! the twin process sends nothing) or `compromised-keys` (attacker processes send nothing).
//! A disabled behaviour is removed from every node before the run, so it neither acts nor
//! emits its marks.
//!
//! This is the only place the simulator reads its environment. Without the feature
//! `disabled` is a constant `false`: normal builds, their runs and digests are untouched.

/// The switches besides the behaviours' own names.
pub const TWINS: &str = "twins";
pub const COMPROMISED_KEYS: &str = "compromised-keys";

/// Whether the self-test disabled `what` for this process.
#[cfg(feature = "selftest")]
pub fn disabled(what: &str) -> bool {
    use std::sync::OnceLock;
    static DISABLED: OnceLock<Vec<String>> = OnceLock::new();
    DISABLED
        .get_or_init(|| {
            std::env::var("DBFT_SIM_DISABLE")
                .unwrap_or_default()
                .split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect()
        })
        .iter()
        .any(|d| d == what)
}

/// Whether the self-test disabled `what` for this process: never, without the feature.
#[cfg(not(feature = "selftest"))]
#[inline(always)]
pub fn disabled(_what: &str) -> bool {
    false
}
