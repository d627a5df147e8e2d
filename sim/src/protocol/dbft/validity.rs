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
//!
//! Under `protocol.rejected_hashes` (neo-node #984, commit `1a9f049a`, C# only) the
//! ChangeView also names the rejected transaction (`ConsensusService.AddTransaction` →
//! `RequestChangeView(TxInvalid, tx.Hash)`), every receiver records which validators
//! rejected which transaction (`OnChangeViewReceived` → `ConsensusContext.InvalidTransactions`,
//! never cleared by Reset, dropped when the transaction leaves the mempool), and a primary
//! leaves out a transaction more than F validators rejected
//! (`ConsensusContext.EnsureMaxBlockLimitation`, after taking MaxTransactionsPerBlock from
//! the mempool, so a left-out transaction still takes its place in that count).

use super::DbftReplica;
use super::message::{Body, ChangeViewReason, ConsensusMessage, Wire};
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
        // C# stops at the first transaction it fails to add, in proposal order.
        let first = self.ctx.proposal.as_ref().and_then(|p| p.tx_hashes.iter().copied().find(|&t| self.rejects_tx(t)));
        let Some(first) = first else {
            return false;
        };
        cx.mark("proposal names a transaction this node's verifier rejects");
        cx.reject(MsgKind::PrepareRequest, RejectReason::Malformed);
        self.request_change_view_rejecting(cx, ChangeViewReason::TxInvalid, vec![first]);
        true
    }

    /// OnChangeViewReceived under the RejectedHashes rule: the sender rejected these.
    pub(super) fn record_rejected_hashes(&mut self, cx: &mut Cx<Wire>, msg: &ConsensusMessage) {
        let Body::ChangeView { reason, rejected, .. } = &msg.body else { return };
        if !self.opts.rejected_hashes
            || rejected.is_empty()
            || !matches!(reason, ChangeViewReason::TxInvalid | ChangeViewReason::TxRejectedByPolicy)
        {
            return;
        }
        let Some(key) = self.ctx.validators.key(msg.validator as usize) else { return };
        cx.mark("rejected hashes recorded");
        for t in rejected {
            self.rejected_by.entry(*t).or_default().insert(key);
        }
    }

    /// EnsureMaxBlockLimitation's filter: false for a transaction more than F validators
    /// rejected (always true without the RejectedHashes rule).
    pub(super) fn proposable(&self, tx: TxId) -> bool {
        self.rejected_by.get(&tx).is_none_or(|by| by.len() <= self.ctx.f())
    }

    /// A persisted transaction leaves the mempool, and with it the record
    /// (`MemPool_TransactionRemoved`).
    pub(super) fn forget_rejections(&mut self, txs: &[TxId]) {
        for t in txs {
            self.rejected_by.remove(t);
        }
    }
}
