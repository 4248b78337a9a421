-------------------------------- MODULE Synod --------------------------------
(***************************************************************************)
(* The basic Synod protocol of "The Part-Time Parliament" (section 2.3),   *)
(* as the priests of src/synod/mod.rs run it.                              *)
(*                                                                         *)
(* Priests 0..N-1 pass one decree.  The first P priests propose: priest i  *)
(* proposes decree i.  A ballot number is owned by one priest: priest p's  *)
(* ballot of round r is numbered r * N + p, so numbers are unique (B1) and *)
(* ordered first by round, then by priest, as the Rust Ballot (round,      *)
(* priest).  Rounds run from 1 to MaxRound, which bounds the model.        *)
(*                                                                         *)
(* Each priest p keeps in its ledger                                       *)
(*   lastTried[p]  the number of the last ballot p tried to begin,         *)
(*   nextBal[p]    the largest ballot number p promised (sent LastVote),   *)
(*   prevVote[p]   p's vote in its highest-numbered ballot, and            *)
(*   outcome[p]    the decree p wrote down as passed (None until then).    *)
(* msgs is every message ever sent: messengers may lose, delay, repeat and *)
(* reorder them, so a message, once sent, may be received any number of    *)
(* times or never.                                                         *)
(*                                                                         *)
(* ballots is Lamport's set B of ballots that have begun: each with its    *)
(* number, president, decree, quorum and the priests that voted in it.     *)
(* The protocol never reads it except to record votes; it exists to state  *)
(* B1, B2 and B3 as invariants, and from them agreement.                   *)
(*                                                                         *)
(* As in src/synod/mod.rs, a president is a member of its own quorum and   *)
(* takes its own steps 2 and 4 at the moment it begins the ballot: it      *)
(* promises the ballot, counts its own latest vote with the LastVotes of   *)
(* the others, and votes.  This is one interleaving of the paper's         *)
(* protocol (a message to oneself arriving late).                          *)
(*                                                                         *)
(* The Rust transliteration is models/synod_spec.rs; tla/README.md maps    *)
(* every variable and action to its Rust counterpart.                      *)
(***************************************************************************)
EXTENDS Integers, FiniteSets

CONSTANTS
    N,          \* the number of priests
    P,          \* priests 0..P-1 propose; priest i proposes decree i
    MaxRound,   \* ballots have rounds 1..MaxRound
    None        \* no decree

ASSUME Constants ==
    /\ N \in Nat \ {0}
    /\ P \in 1..N
    /\ MaxRound \in Nat \ {0}

Priest == 0..(N - 1)
Proposer == 0..(P - 1)
Decree == Proposer
Proposal(p) == p

ASSUME NoneAssumption == None \notin Decree

(* The majorities: any two share a priest (B2). *)
Quorum == {Q \in SUBSET Priest : 2 * Cardinality(Q) > N}

(* Priest p's ballot numbers, and the owner of a number. *)
BallotsOf(p) == {r * N + p : r \in 1..MaxRound}
BallotNum == UNION {BallotsOf(p) : p \in Proposer}
Owner(b) == b % N

(* -1 is below every ballot number. *)
NoBallot == -1
NoVote == [bal |-> NoBallot, dec |-> None]
Vote == [bal : BallotNum, dec : Decree]

Message ==
         [type : {"NextBallot"}, bal : BallotNum]
    \cup [type : {"LastVote"}, bal : BallotNum, from : Priest,
          vote : Vote \cup {NoVote}]
    \cup [type : {"BeginBallot"}, bal : BallotNum, dec : Decree,
          from : Proposer, to : Priest]
    \cup [type : {"Voted"}, bal : BallotNum, from : Priest, to : Proposer]
    \cup [type : {"Success"}, dec : Decree]

VARIABLES lastTried, nextBal, prevVote, outcome, msgs, ballots

vars == <<lastTried, nextBal, prevVote, outcome, msgs, ballots>>

BallotRecord == [bal : BallotNum, pres : Proposer, dec : Decree,
                 qrm : Quorum, vot : SUBSET Priest]

TypeOK ==
    /\ lastTried \in [Priest -> BallotNum \cup {NoBallot}]
    /\ nextBal \in [Priest -> BallotNum \cup {NoBallot}]
    /\ prevVote \in [Priest -> Vote \cup {NoVote}]
    /\ outcome \in [Priest -> Decree \cup {None}]
    /\ msgs \subseteq Message
    /\ ballots \subseteq BallotRecord

Init ==
    /\ lastTried = [p \in Priest |-> NoBallot]
    /\ nextBal = [p \in Priest |-> NoBallot]
    /\ prevVote = [p \in Priest |-> NoVote]
    /\ outcome = [p \in Priest |-> None]
    /\ msgs = {}
    /\ ballots = {}

Send(ms) == msgs' = msgs \cup ms

(***************************************************************************)
(* Step 1: proposer p picks a ballot number b above lastTried[p], writes   *)
(* it in its ledger and sends NextBallot(b).                               *)
(***************************************************************************)
TryNewBallot(p, b) ==
    /\ outcome[p] = None
    /\ b > lastTried[p]
    /\ lastTried' = [lastTried EXCEPT ![p] = b]
    /\ Send({[type |-> "NextBallot", bal |-> b]})
    /\ UNCHANGED <<nextBal, prevVote, outcome, ballots>>

(***************************************************************************)
(* Step 2: on NextBallot(b) with b > nextBal[q], priest q promises b and   *)
(* answers LastVote(b, v) with its latest vote v.                          *)
(***************************************************************************)
SendLastVote(q) ==
    /\ \E m \in msgs :
          /\ m.type = "NextBallot"
          /\ Owner(m.bal) # q
          /\ m.bal > nextBal[q]
          /\ nextBal' = [nextBal EXCEPT ![q] = m.bal]
          /\ Send({[type |-> "LastVote", bal |-> m.bal, from |-> q,
                    vote |-> prevVote[q]]})
    /\ UNCHANGED <<lastTried, prevVote, outcome, ballots>>

(* The latest of a set of votes (NoVote if none of them is a vote). *)
Latest(vs) ==
    IF \A v \in vs : v.bal = NoBallot
    THEN NoVote
    ELSE CHOOSE v \in vs : \A w \in vs : v.bal >= w.bal

(***************************************************************************)
(* Step 3: president p, trying b = lastTried[p], holds LastVote(b, _) from *)
(* every other member of a quorum Q.  It promises b itself (it must not    *)
(* have promised b or higher, which also keeps it from beginning b twice), *)
(* takes the decree of the latest vote among the LastVotes and its own     *)
(* prevVote (or its proposal if none is a vote), votes for it, and sends   *)
(* BeginBallot(b, d) to the others of Q.                                   *)
(***************************************************************************)
BeginBallot(p, Q) ==
    LET b == lastTried[p]
        lvs == {m \in msgs : /\ m.type = "LastVote"
                             /\ m.bal = b
                             /\ m.from \in Q \ {p}}
        latest == Latest({m.vote : m \in lvs} \cup {prevVote[p]})
        d == IF latest = NoVote THEN Proposal(p) ELSE latest.dec
    IN  /\ b # NoBallot
        /\ outcome[p] = None
        /\ p \in Q
        /\ nextBal[p] < b
        /\ \A q \in Q \ {p} : \E m \in lvs : m.from = q
        /\ nextBal' = [nextBal EXCEPT ![p] = b]
        /\ prevVote' = [prevVote EXCEPT ![p] = [bal |-> b, dec |-> d]]
        /\ ballots' = ballots \cup {[bal |-> b, pres |-> p, dec |-> d,
                                     qrm |-> Q, vot |-> {p}]}
        /\ Send({[type |-> "BeginBallot", bal |-> b, dec |-> d,
                  from |-> p, to |-> q] : q \in Q \ {p}})
        /\ UNCHANGED <<lastTried, outcome>>

(***************************************************************************)
(* Step 4: on BeginBallot(b, d) with b = nextBal[q], priest q votes.       *)
(***************************************************************************)
CastVote(q) ==
    /\ \E m \in msgs :
          /\ m.type = "BeginBallot"
          /\ m.to = q
          /\ m.bal = nextBal[q]
          /\ prevVote' = [prevVote EXCEPT ![q] = [bal |-> m.bal, dec |-> m.dec]]
          /\ ballots' = {IF B.bal = m.bal /\ B.pres = m.from
                         THEN [B EXCEPT !.vot = @ \cup {q}]
                         ELSE B : B \in ballots}
          /\ Send({[type |-> "Voted", bal |-> m.bal, from |-> q,
                    to |-> m.from]})
    /\ UNCHANGED <<lastTried, nextBal, outcome>>

(***************************************************************************)
(* Step 5: president p holds Voted(b) from every other member of the      *)
(* quorum of its ballot b = lastTried[p]: the decree is passed.  p writes *)
(* it in its ledger and sends Success(d).                                  *)
(***************************************************************************)
Succeed(p) ==
    /\ outcome[p] = None
    /\ \E B \in ballots :
          /\ B.pres = p
          /\ B.bal = lastTried[p]
          /\ \A q \in B.qrm \ {p} :
                [type |-> "Voted", bal |-> B.bal, from |-> q, to |-> p] \in msgs
          /\ outcome' = [outcome EXCEPT ![p] = B.dec]
          /\ Send({[type |-> "Success", dec |-> B.dec]})
    /\ UNCHANGED <<lastTried, nextBal, prevVote, ballots>>

(***************************************************************************)
(* Step 6: on Success(d), a priest writes d in its ledger.                 *)
(***************************************************************************)
Learn(q) ==
    /\ outcome[q] = None
    /\ \E m \in msgs :
          /\ m.type = "Success"
          /\ outcome' = [outcome EXCEPT ![q] = m.dec]
    /\ UNCHANGED <<lastTried, nextBal, prevVote, msgs, ballots>>

Next ==
    \/ \E p \in Proposer : \E b \in BallotsOf(p) : TryNewBallot(p, b)
    \/ \E p \in Proposer : \E Q \in Quorum : BeginBallot(p, Q)
    \/ \E p \in Proposer : Succeed(p)
    \/ \E q \in Priest : SendLastVote(q) \/ CastVote(q) \/ Learn(q)

Spec == Init /\ [][Next]_vars

(***************************************************************************)
(* The paper's conditions on the set of ballots, and what they give.       *)
(***************************************************************************)
Succeeded(B) == B.qrm \subseteq B.vot

(* B1: every ballot has a unique number. *)
B1 == \A B, C \in ballots : B.bal = C.bal => B = C

(* B2: the quorums of any two ballots share a priest. *)
B2 == \A B, C \in ballots : B.qrm \cap C.qrm # {}

(* B3: if a member of B's quorum voted in an earlier ballot, B's decree   *)
(* is the decree of the latest such ballot.                                *)
B3 == \A B \in ballots :
        LET E == {C \in ballots : C.bal < B.bal /\ C.vot \cap B.qrm # {}}
        IN  \A C \in E : (\A C2 \in E : C.bal >= C2.bal) => C.dec = B.dec

(* Agreement: the decrees of any two successful ballots are equal. *)
Agreement == \A B, C \in ballots : Succeeded(B) /\ Succeeded(C) => B.dec = C.dec

(* A decree written in a ledger was passed in a successful ballot. *)
LearnedImpliesChosen ==
    \A p \in Priest : outcome[p] # None =>
        \E B \in ballots : Succeeded(B) /\ B.dec = outcome[p]

(* Negated, to let TLC show that a decree can be passed at all. *)
NothingChosen == \A B \in ballots : ~ Succeeded(B)
=============================================================================
