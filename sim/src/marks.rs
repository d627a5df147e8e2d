//! Coverage marks: the name of every protocol path, attack step and relay event this
//! build counts in a run's `coverage` (`Cx::mark` in replicas and Byzantine wrappers,
//! the engine's relay counters, the explorer's restart choice).
//!
//! A scenario's `expect.marks` may name only these: a misspelt mark is bad input (exit 2,
//! at its path) instead of a run that fails at its end with "got 0". The list is kept
//! by hand; a test reads the sources and fails if a mark is emitted that is not listed
//! here, or listed and no longer emitted.

/// Every coverage mark, sorted.
pub const KNOWN: &[&str] = &[
    "C#: PrepareResponse refused: the primary's own PrepareResponse holds the request slot",
    "C#: the primary's PrepareResponse stored in the request slot",
    "ChangeView ignored: this node has committed",
    "ChangeView replaced by RecoveryRequest",
    "ChangeView sent with reason TxInvalid",
    "ChangeView sent with reason TxNotFound",
    "ChangeView suppressed by commit lock",
    "Commit in this node's own name received and kept",
    "Commit of another view stored",
    "GetBlocks sent",
    "Go: PrepareResponse from the primary ignored",
    "Go: PrepareResponse stored while the primary's slot holds no request",
    "Go: recovered payload accepted without a valid signature",
    "MUTATION: block assembled with M-1 commits",
    "MUTATION: second commit at one height",
    "PrepareRequest from a non-primary ignored",
    "PrepareRequest ignored while view changing",
    "PrepareRequest recovered",
    "PrepareResponse for another request",
    "PrepareResponse ignored while view changing",
    "apply-on-propose: switched set before the block is final",
    "assembled a block with an unchecked bad Commit: the ledger rejects it",
    "block names a new validator set",
    "block persisted from relay",
    "byzantine: ChangeView flood",
    "byzantine: PrepareRequest from a non-primary",
    "byzantine: PrepareRequest stamped in the future",
    "byzantine: PrepareResponse from the primary",
    "byzantine: block request answered with the stale branch",
    "byzantine: commit withheld",
    "byzantine: delivered to a chosen subset",
    "byzantine: double-signed a proposal",
    "byzantine: equivocating PrepareRequest",
    "byzantine: forged RecoveryMessage",
    "byzantine: forged messages",
    "byzantine: garbage commit",
    "byzantine: replayed old messages",
    "byzantine: signed as a validator it no longer is",
    "byzantine: silenced a message",
    "byzantine: stale branch relayed",
    "byzantine: stale signer signed as a current validator",
    "byzantine: withheld a message from one recipient",
    "byzantine: withheld commit released",
    "cached messages replayed",
    "change lost: submitted at a node that is down",
    "committed node answers ChangeView with recovery",
    "csharp: recovered payload handled again from the relay result",
    "dual-quorum: hand-off block carries both quorums",
    "dual-quorum: outgoing validator endorsed the hand-off block",
    "dual-quorum: outgoing validator follows the view",
    "explore: a crashed node restarted",
    "fetch: Byzantine node refused GetData",
    "fetch: GetData sent for missing transactions",
    "fetch: missing transaction received from a peer",
    "fetch: served a transaction",
    "fetch: unsolicited or late transaction ignored",
    "future-height message cached",
    "future-view message cached",
    "go: Commits stored before the PrepareRequest stay unchecked",
    "go: primary answered its own PrepareRequest, overwriting it",
    "go: recovered Commit rebuilt in the RecoveryMessage's view",
    "last missing transaction arrived",
    "primary leaves out a transaction more than F rejected",
    "proposal names a transaction this node's verifier rejects",
    "recovered ChangeView no longer matches its signature (its reason is not carried)",
    "recovered payload rejected: bad signature",
    "recovery answered by committed node",
    "recovery request already answered",
    "rejected hashes recorded",
    "rejected: signed by a revoked key",
    "rejected: signed by a validator that left the set",
    "relay: dropped duplicate",
    "relay: forwarded",
    "relay: forwarded a future-height payload",
    "relay: re-sent pooled payloads",
    "relayed block names another next set",
    "relayed block signed by a former set",
    "restart with persisted commit",
    "second Commit from one validator ignored",
    "stale ChangeView treated as RecoveryRequest",
    "stored Commit dropped once the PrepareRequest gave its header",
    "timeout while committed: RecoveryMessage",
    "timer extended by a Commit that then failed its signature check",
    "view number exhausted",
    "waiting for proposed transactions",
];

/// Is `name` a coverage mark this build can count?
pub fn is_known(name: &str) -> bool {
    KNOWN.binary_search(&name).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    /// The string literals inside the parentheses that open at `from` (nested ones too).
    fn literals_in_call(s: &str, from: usize, out: &mut BTreeSet<String>) {
        let b = s.as_bytes();
        let (mut depth, mut k) = (1, from);
        while depth > 0 && k < b.len() {
            match b[k] {
                b'(' => depth += 1,
                b')' => depth -= 1,
                b'"' => {
                    let mut end = k + 1;
                    while b[end] != b'"' || b[end - 1] == b'\\' {
                        end += 1;
                    }
                    out.insert(s[k + 1..end].to_string());
                    k = end;
                }
                _ => {}
            }
            k += 1;
        }
    }

    /// The marks the sources emit: literals passed to `.mark(` and `.count_mark(`, `*_MARK` constants,
    /// literal `marks.entry("…")` keys and the relay counters' names.
    fn emitted() -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        let mut dirs = vec![std::path::PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/src"))];
        while let Some(dir) = dirs.pop() {
            for e in std::fs::read_dir(&dir).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    dirs.push(p);
                    continue;
                }
                let name = p.file_name().unwrap().to_string_lossy().to_string();
                if !name.ends_with(".rs") || name.ends_with("tests.rs") || name == "marks.rs" {
                    continue;
                }
                let text = std::fs::read_to_string(&p).unwrap();
                let s = text.split("#[cfg(test)]\nmod tests {").next().unwrap();
                for call in [".mark(", ".count_mark("] {
                    for (i, _) in s.match_indices(call) {
                        literals_in_call(s, i + call.len(), &mut out);
                    }
                }
                for pat in ["_MARK: &str = \"", "marks.entry(\"", "(\"relay: "] {
                    for (i, _) in s.match_indices(pat) {
                        let start = i + pat.len() - if pat.starts_with("(\"relay") { "relay: ".len() } else { 0 };
                        let end = start + s[start..].find('"').unwrap();
                        out.insert(s[start..end].to_string());
                    }
                }
            }
        }
        out
    }

    #[test]
    fn the_list_is_what_the_sources_emit() {
        let known: BTreeSet<String> = KNOWN.iter().map(|s| s.to_string()).collect();
        let emitted = emitted();
        let missing: Vec<_> = emitted.difference(&known).collect();
        let stale: Vec<_> = known.difference(&emitted).collect();
        assert!(missing.is_empty(), "emitted but not in KNOWN: {missing:?}");
        assert!(stale.is_empty(), "in KNOWN but emitted nowhere: {stale:?}");
        assert!(KNOWN.windows(2).all(|w| w[0] < w[1]), "KNOWN is sorted (binary search)");
        assert!(is_known("byzantine: garbage commit") && !is_known("byzantine: garbage comit"));
    }
}
