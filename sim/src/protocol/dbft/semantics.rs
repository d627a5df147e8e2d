//! The C#/Go semantics switch (docs/dbft-2.0.md §1.12).
//!
//! The two reference implementations of dBFT 2.0 differ in ways that change outcomes —
//! which schedules lock, which recover. `protocol.semantics` picks one; every place the
//! replica branches on it calls one of the predicates below, each named after the
//! behaviour and citing the section of docs/dbft-2.0.md, so a reader can list every switch point
//! from this file alone.
//!
//! §1.12 #14 (Go answers RecoveryRequests while BlockSent, C# ignores everything) is the
//! one branch on [`Semantics::caches_future_messages`] at the top of `receive.rs`
//! `receive`: it matters only when a node's assembled block was not persisted (an invalid
//! block), since a valid one is persisted in the step it is assembled. Left out on
//! purpose, with no effect here: #15 (caller driven Reset). Go's anti-MEV PreCommit and dynamic block time (#16) are not dBFT 2.0.
//! Go's RTT correction of the timer (#9) is omitted: the simulator's primary does not
//! measure wall-clock round trips.
//!
//! Deliberate departures, for both semantics:
//! - The committed context is persisted and survives a crash (C# ConsensusContext.Save)
//!   also under Go semantics: the Go library has no persistence of its own, but the issue
//!   this simulator serves makes persistence the default and state loss a fault option
//!   (`amnesia`), which is how the Go library behaves after a restart.
//! - Messages are validated as a whole at decode time for both (an out-of-range or repeated
//!   validator index inside a RecoveryMessage, duplicate transaction hashes in a
//!   PrepareRequest): the wire format is shared.

use super::message::ChangeViewReason;

crate::names::named_enum! {
    #[derive(Default)]
    pub enum Semantics {
        /// The C# DBFTPlugin (neo-project/neo), the reference network.
        #[default]
        CSharp = "csharp",
        /// nspcc-dev/dbft (neo-go).
        Go = "go",
    }
}

impl Semantics {
    /// §1.4 / §1.12 #1: "lost" nodes. C#: last seen at a height below h−1, sticky across
    /// heights. Go: no commit and not seen in this height *and view*.
    pub fn counts_failed_by_view(self) -> bool {
        self == Semantics::Go
    }

    /// §1.3 / §1.12 #2: Go clears ChangeViewPayloads on every view change; C# keeps them.
    pub fn clears_change_views_on_view_change(self) -> bool {
        self == Semantics::Go
    }

    /// §1.7 OnPrepareRequest / §1.12 #3: C# ignores a PrepareRequest while
    /// NotAcceptingPayloadsDueToViewChanging; Go accepts it (the check is commented out).
    pub fn rejects_request_while_view_changing(self) -> bool {
        self == Semantics::CSharp
    }

    /// §1.7 CheckExpectedView / §1.12 #4: C# sends a ChangeAgreement ChangeView when its own
    /// is missing or lower; Go only when it had a lower one.
    pub fn change_agreement_without_own_change_view(self) -> bool {
        self == Semantics::CSharp
    }

    /// §1.7 OnChangeView step 2 / §1.12 #5: a committed Go node answers a higher ChangeView
    /// with a RecoveryMessage; C# stays silent.
    pub fn committed_answers_higher_change_view(self) -> bool {
        self == Semantics::Go
    }

    /// §1.7 RequestChangeView step 2 / §1.12 #6: with more than F nodes committed or lost,
    /// send a RecoveryRequest instead of the ChangeView — C# for every reason, Go only for
    /// Timeout.
    pub fn recovery_request_instead_of_change_view(self, reason: ChangeViewReason) -> bool {
        match self {
            Semantics::CSharp => true,
            Semantics::Go => reason == ChangeViewReason::Timeout,
        }
    }

    /// §1.7 OnRecoveryRequest / §1.12 #7: C# answers each payload hash once per height.
    pub fn dedups_recovery_requests(self) -> bool {
        self == Semantics::CSharp
    }

    /// §1.11 / §1.12 #8: Go caches messages from future heights and views and replays them;
    /// C# drops them (except Commits of other views of this height, which it stores).
    pub fn caches_future_messages(self) -> bool {
        self == Semantics::Go
    }

    /// §1.5 / §1.12 #9: Go subtracts the time since its last checkPrepare from every role's
    /// timer at the next height and fires a view>0 primary at once; C# subtracts only for the
    /// view-0 primary, from when it received the previous PrepareRequest.
    pub fn go_timer_base(self) -> bool {
        self == Semantics::Go
    }

    /// §1.6 / §1.12 #10: at start C# broadcasts a RecoveryRequest and the primary waits; Go's
    /// primary proposes at once and nobody asks for recovery.
    pub fn proposes_at_start(self) -> bool {
        self == Semantics::Go
    }

    /// §1.9 / §1.12 #11: C# caps the ChangeViews in a RecoveryMessage at M and includes the
    /// most common preparation hash when the request is unknown; Go includes all of them,
    /// and neo-go the hash of the lowest-index PrepareResponse (its `AddPayload` takes the
    /// first response added, and the library adds them in index order — neo-go
    /// `pkg/consensus/recovery_message.go`; the library's own test host sends none, and
    /// `go` models neo-go, the deployed node).
    pub fn recovery_message_csharp_shape(self) -> bool {
        self == Semantics::CSharp
    }

    /// §1.9: Go rebuilds every recovered Commit in the RecoveryMessage's view, not the
    /// view it was signed in (neo-go `recovery_message.go` `GetCommits` → `fromPayload`;
    /// the library's own host does the same); C# keeps each Commit's own view
    /// (neo-node `RecoveryMessage.GetCommitPayloadsFromRecoveryMessage`). A lower-view
    /// Commit thus arrives as one of the current view: dropped if the header is known (its
    /// block signature is over another header), stored unchecked if not.
    pub fn recovered_commits_take_recovery_view(self) -> bool {
        self == Semantics::Go
    }

    /// §1.9: the hash that PrepareResponses rebuilt from a RecoveryMessage carrying a
    /// PrepareRequest answer. Go: the hash of that request as rebuilt from the message
    /// (neo-go `consensus.go` `eventLoop`); C#: the hash of the receiver's own primary
    /// slot (neo-node `RecoveryMessage.GetPrepareResponsePayloads`). They differ when the
    /// receiver stored another request than the sender's.
    pub fn recovery_hash_from_message(self) -> bool {
        self == Semantics::Go
    }

    /// §1.9: C# handles every payload rebuilt from a RecoveryMessage twice — directly after
    /// re-verifying it, and again when the blockchain actor publishes the verification
    /// result to every listener (neo-node `ConsensusService.ReverifyAndProcessPayload` and
    /// `OnConsensusPayload`). Go handles each once.
    pub fn handles_recovered_payloads_twice(self) -> bool {
        self == Semantics::CSharp
    }

    /// §1.5 / §1.12 #12: C# extends the timer by 2T/M when it sends a PrepareResponse; Go
    /// only when the response follows the last missing transaction.
    pub fn extends_on_response_sent(self) -> bool {
        self == Semantics::CSharp
    }

    /// §1.7 OnPrepareResponse / §1.12 #13: Go ignores a PrepareResponse from the primary's
    /// index; C# has no such check.
    pub fn ignores_response_from_primary(self) -> bool {
        self == Semantics::Go
    }

    /// OnPrepareResponse: C# compares a response's preparation hash with the hash of
    /// whatever payload fills the primary's slot (neo-node `ConsensusService.OnMessage.cs`
    /// `OnPrepareResponseReceived`). A primary's own PrepareResponse that arrived before its
    /// request fills that slot, so every genuine response is refused there and the backup
    /// is out of the view. Go never stores a primary's response (above), so its slot holds
    /// the request or, at a Go primary that answered its own request, that answer — which
    /// the simulator does not compare against (Go's `onPrepareResponse` finds no request
    /// there, logs and keeps the response).
    pub fn compares_response_with_primary_slot(self) -> bool {
        self == Semantics::CSharp
    }

    /// §1.7 OnPrepareRequest: which checks a request must pass, and what failing them does.
    /// C# ignores a request whose version, previous hash, transaction count or timestamp
    /// (≤ previous block, > now + 8T) is wrong, or that lists a transaction already on
    /// chain. Go's VerifyPrepareRequest checks version, previous hash and count and asks to
    /// change view (BlockRejectedByPolicy); the block-level checks (timestamp, transactions
    /// already on chain) run once every transaction is present and give TxInvalid.
    pub fn go_request_verification(self) -> bool {
        self == Semantics::Go
    }

    /// Go (neo-go with nspcc-dev/dbft) keeps a proposal's timestamp in nanoseconds in a
    /// u64: a received request's milliseconds are multiplied by 10^6 (wrapping) and the
    /// block's stamp divided back (neo-go `prepareRequest.Timestamp`, `newBlockFromContext`),
    /// and a primary's next stamp is the previous block's in nanoseconds plus 1 ms
    /// (wrapping), or the clock if that is later (dbft `Context.Fill`). The same as
    /// millisecond arithmetic until about the year 2554; past it a stamp wraps
    /// (FINDINGS.md #14). C# keeps milliseconds.
    pub fn nanosecond_timestamps(self) -> bool {
        self == Semantics::Go
    }

    /// §1.7 OnTransaction: Go also ignores a late transaction once this node committed.
    pub fn late_transaction_checks_commit(self) -> bool {
        self == Semantics::Go
    }

    /// §1.8 / §1.7 RequestChangeView step 3: Go turns a Timeout reason into TxNotFound
    /// inside RequestChangeView (after the RecoveryRequest decision); C# picks TxNotFound in
    /// OnTimeout, before it.
    pub fn tx_not_found_decided_late(self) -> bool {
        self == Semantics::Go
    }

    /// §1.5: Go's first height after genesis. `lastBlockIndex` starts at 0 and its time at
    /// Go's zero time, so at height 1 every timer is reduced to 0: every backup times out at
    /// start (and, hearing from nobody yet, asks for recovery).
    pub fn genesis_timer_fires_at_once(self) -> bool {
        self == Semantics::Go
    }

    /// §1.7 OnChangeView step 1: Go returns after treating a stale ChangeView as a recovery
    /// request; C# carries on (and may store it).
    pub fn stale_change_view_only_recovery(self) -> bool {
        self == Semantics::Go
    }

    /// §1.7 OnChangeView step 3: C# ignores a ChangeView whose NewViewNumber is ≤ the stored
    /// one; Go only when strictly lower (equal replaces).
    pub fn replaces_equal_change_view(self) -> bool {
        self == Semantics::Go
    }

    /// §1.9: C# re-verifies every payload it rebuilds from a RecoveryMessage (the
    /// blockchain checks its witness before OnConsensusPayload sees it); Go passes the
    /// rebuilt payloads straight to its handlers without checking their signatures (only
    /// the top-level RecoveryMessage was verified, by the network layer). A ChangeView sent
    /// with a reason other than Timeout loses that reason in the compact form, so under C#
    /// it never survives recovery, and under Go it does (as a Timeout).
    pub fn verifies_recovered_payloads(self) -> bool {
        self == Semantics::CSharp
    }

    /// §1.7 OnPrepareRequest: a C# backup re-verifies the Commits it stored before the
    /// header was known, once the PrepareRequest gives it (neo-node
    /// `OnPrepareRequestReceived`). Go never does: `updateExistingPayloads` runs before the
    /// request is stored, when `MakeHeader` still returns nil, so every check is skipped
    /// (nspcc-dev/dbft `dbft.go` `onPrepareRequest`), and an early Commit stays unchecked
    /// for the whole height. Neither re-checks at assembly: the first M Commits of the view
    /// go into the block as stored (see `check_commits`).
    pub fn reverifies_early_commits(self) -> bool {
        self == Semantics::CSharp
    }

    /// §1.7 OnPrepareRequest: neither implementation asks whether *this* node is the
    /// primary, only whether the sender is. C# then stops in CheckPrepareResponse before
    /// responding (neo-node `ConsensusService.Check.cs`); Go answers: a primary that gets
    /// its own PrepareRequest back (replayed, recovered, or from before a restart) before
    /// it proposed sends a PrepareResponse, which `makePrepareResponse` writes into its own
    /// preparation slot — the request's — so it can no longer commit in that view
    /// (nspcc-dev/dbft `dbft.go` `onPrepareRequest`, `send.go` `sendPrepareResponse`).
    pub fn primary_answers_own_request(self) -> bool {
        self == Semantics::Go
    }

    /// §1.7 OnPrepareResponse / CheckPreparations: Go commits only while a PrepareRequest
    /// fills a preparation slot (`checkPrepare`'s `hasRequest`), and a PrepareResponse
    /// that arrives while the primary's slot holds something else (the primary's own
    /// answer, [`Self::primary_answers_own_request`]) is stored and goes no further — no
    /// timer extension, no CheckPreparations (nspcc-dev/dbft `dbft.go` `onPrepareResponse`:
    /// "unexpected nil prepare request"). C# counts any M preparations once it knows the
    /// proposal.
    pub fn commits_only_with_request_stored(self) -> bool {
        self == Semantics::Go
    }

    /// §1.7 CheckPreparations / §1.5: Go runs checkPrepare right after sending its own
    /// PrepareRequest (and records the timer reference there); C# only when N = 1.
    pub fn checks_preparations_after_request(self, n: usize) -> bool {
        self == Semantics::Go || n == 1
    }
}
