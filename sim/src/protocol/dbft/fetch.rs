//! Fetching a proposal's missing transactions (GetData / Transaction), and the transport
//! check behind flood relay. docs/network.md has the full account and the sources.
//!
//! A backup that accepts a PrepareRequest naming transactions it lacks asks every peer for
//! them once (`request_missing_txs`):
//! - C#: `ConsensusService.OnPrepareRequestReceived` tells the TaskManager
//!   `RestartTasks(InvPayload TX <missing>)`, which broadcasts one `GetData` to all
//!   connected peers, with no task timeout and no retry
//!   (<https://github.com/neo-project/neo-node/blob/75c2721a1bb9e51ac5a9130bb55e3ad16da2a023/plugins/DBFTPlugin/Consensus/ConsensusService.OnMessage.cs#L174-L178>,
//!   <https://github.com/neo-project/neo/blob/c612597a742b67f7e342ce7a1d3faf2f658712c0/src/Neo/Network/P2P/TaskManager.cs#L204-L216>);
//! - Go: `onPrepareRequest` → `processMissingTx` → neo-go `Server.RequestTx`, a `GetData`
//!   to all peers, single shot
//!   (<https://github.com/nspcc-dev/dbft/blob/5187e615cafdd3a4fca3051f8916a455f7853b14/dbft.go#L367-L384>,
//!   <https://github.com/nspcc-dev/neo-go/blob/4b67ae6e59a301d696191db196f75545af0d62ba/pkg/network/server.go#L1709-L1730>);
//!   the library asks again when it sends a RecoveryRequest with the request known and
//!   transactions missing (`sendRecoveryRequest`,
//!   <https://github.com/nspcc-dev/dbft/blob/5187e615cafdd3a4fca3051f8916a455f7853b14/send.go#L186-L194>).
//!
//! A peer answers each hash it holds in its mempool with a `Transaction` message and
//! ignores the rest (`on_get_data`; C# `RemoteNode.OnGetDataMessageReceived`, neo-go
//! `handleGetDataCmd`). NotFound is not modelled: the requester ignores it in both. A
//! received transaction goes to consensus when it is one the proposal still misses
//! (`on_transaction_message`; C# `DBFTPlugin.RemoteNode_MessageReceived_Handler` →
//! `ConsensusService.OnTransaction`, neo-go `txHandlerLoop` with the consensus callback
//! list); anything else is ignored. There is no fetch-level timeout: the view timer is the
//! give-up, as in both implementations (TxNotFound).
//!
//! Left out: C#'s per-connection "served once" cache (a peer serves a hash at most once per
//! connection: irrelevant for a single request per height and view), the primary's `Inv` of
//! its proposal's hashes after the PrepareRequest, and transaction verification (every
//! transaction is valid). Byzantine nodes never serve (byzantine/mod.rs).

use super::DbftReplica;
use super::message::Wire;
use crate::protocol::block::TxId;
use crate::protocol::crypto::Keyring;
use crate::protocol::{Cx, NodeId};
use std::rc::Rc;

/// Neo's `InvPayload.MaxHashesCount`: a GetData names at most this many hashes; the rest of
/// a longer (hostile) list is ignored.
pub const MAX_HASHES_PER_GET_DATA: usize = 500;

impl DbftReplica {
    /// The proposal's transactions this node lacks, in proposal order.
    fn missing_tx_ids(&self) -> Vec<TxId> {
        self.ctx
            .proposal
            .as_ref()
            .map_or_else(Vec::new, |p| p.tx_hashes.iter().copied().filter(|t| !self.ledger.has_tx(*t)).collect())
    }

    /// processMissingTx / RestartTasks: one GetData for the missing transactions to every
    /// peer. No retry (the view timer gives up).
    pub(super) fn request_missing_txs(&mut self, cx: &mut Cx<Wire>) {
        if !self.opts.fetch_txs {
            return;
        }
        let mut txs = self.missing_tx_ids();
        if txs.is_empty() {
            return;
        }
        txs.truncate(MAX_HASHES_PER_GET_DATA);
        cx.mark("fetch: GetData sent for missing transactions");
        cx.broadcast(Rc::new(Wire::GetData { txs }));
    }

    /// Go `sendRecoveryRequest` calls processMissingTx again when the request is known and
    /// transactions are missing; C# does not.
    pub(super) fn refetch_on_recovery_request(&mut self, cx: &mut Cx<Wire>) {
        if self.semantics() == super::semantics::Semantics::Go && self.ctx.request_sent_or_received() {
            self.request_missing_txs(cx);
        }
    }

    /// OnGetDataMessageReceived / handleGetDataCmd: send each requested transaction this
    /// node holds, one Transaction message each, to the asker.
    pub(super) fn on_get_data(&mut self, cx: &mut Cx<Wire>, from: NodeId, txs: &[TxId]) {
        if !self.opts.fetch_txs || from == self.node {
            return;
        }
        for &tx in txs.iter().take(MAX_HASHES_PER_GET_DATA) {
            if self.ledger.has_tx(tx) {
                cx.mark("fetch: served a transaction");
                cx.send(from, Rc::new(Wire::Transaction { tx }));
            }
        }
    }

    /// A Transaction message: taken (mempool, then OnTransaction) only when the proposal
    /// still misses it — neo-go's consensus callback list, C#'s "hash is proposed" check.
    /// An unsolicited transaction is ignored (every simulated transaction reaches the
    /// mempool through the workload; a peer cannot invent one).
    pub(super) fn on_transaction_message(&mut self, cx: &mut Cx<Wire>, tx: TxId) {
        if !self.opts.fetch_txs {
            return;
        }
        if !self.missing_tx_ids().contains(&tx) {
            cx.mark("fetch: unsolicited or late transaction ignored");
            return;
        }
        cx.mark("fetch: missing transaction received from a peer");
        self.on_transaction_arrived(cx, tx);
    }

    /// The transport's check before a node re-relays under flood (Replica::relays): a
    /// consensus payload whose signature verifies under a registered key (Neo's witness
    /// whitelist: committee, validators, candidates) for a height this node has not
    /// persisted — future heights included (C# `ExtensiblePayload.Verify`, neo-go
    /// `extpool.verify`); a block once this node has persisted exactly it (C#
    /// `Blockchain.OnNewBlock`, neo-go `relayBlocksLoop`). Nothing of the consensus
    /// content is checked.
    pub(super) fn passes_relay_checks(&self, keys: &Keyring, msg: &Wire) -> bool {
        match msg {
            Wire::Consensus(m) => {
                m.height > self.ledger.height() && m.hash_matches() && keys.signer_of(&m.hash, &m.sig).is_some()
            }
            Wire::Block(b) => self.ledger.chain.get(b.height() as usize).is_some_and(|c| c.digest() == b.digest()),
            Wire::GetBlocks { .. } | Wire::GetData { .. } | Wire::Transaction { .. } => false,
        }
    }
}
