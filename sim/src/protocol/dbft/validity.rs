//! Transaction validity as each node's verifier sees it (`workload.invalid`).
//!
//! Real nodes verify every proposed transaction (neo-node `ConsensusService.AddTransaction`:
//! policy, conflicts, `Transaction.Verify`; neo-go `verifyBlock` once all transactions are
//! present) and a backup that finds one it rejects asks for a view change with reason
//! TxInvalid. Verifiers differ between nodes in practice (policy settings, the mempool's
//! conflicts, the state a node has executed), so a scenario names the transactions a
//! chosen set of nodes reject. A node never proposes a transaction its own verifier
//! rejects; as a backup it answers a proposal naming one with ChangeView(TxInvalid)
//! instead of a PrepareResponse, once every proposed transaction is present (Go's order;
//! C# verifies each transaction as it is added, which differs only while others are still
//! missing).

use super::DbftReplica;
use super::message::{ChangeViewReason, Wire};
use crate::protocol::block::TxId;
use crate::protocol::{Cx, MsgKind, NodeId, RejectReason};
use serde::Serialize;

/// Transactions `first..=last` are rejected by the verifiers of `nodes` (everyone if None).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct InvalidTxs {
    pub nodes: Option<Vec<NodeId>>,
    pub first: TxId,
    pub last: TxId,
}

impl InvalidTxs {
    fn rejects(&self, node: NodeId, tx: TxId) -> bool {
        (self.first..=self.last).contains(&tx) && self.nodes.as_ref().is_none_or(|n| n.contains(&node))
    }
}

impl DbftReplica {
    /// Does this node's verifier reject `tx`?
    pub(super) fn rejects_tx(&self, tx: TxId) -> bool {
        self.opts.invalid_txs.iter().any(|r| r.rejects(self.node, tx))
    }

    /// Backup, every proposed transaction present: if its verifier rejects one of them,
    /// ChangeView(TxInvalid) instead of a PrepareResponse. Returns whether it did.
    pub(super) fn reject_invalid_proposal(&mut self, cx: &mut Cx<Wire>) -> bool {
        if self.opts.invalid_txs.is_empty() || !self.ctx.is_backup() || self.ctx.response_sent() {
            return false;
        }
        let invalid = self.ctx.proposal.as_ref().is_some_and(|p| p.tx_hashes.iter().any(|&t| self.rejects_tx(t)));
        if !invalid {
            return false;
        }
        cx.mark("proposal names a transaction this node's verifier rejects");
        cx.reject(MsgKind::PrepareRequest, RejectReason::Malformed);
        self.request_change_view(cx, ChangeViewReason::TxInvalid);
        true
    }
}
