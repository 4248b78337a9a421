-------------------------------- MODULE Paxos --------------------------------
(***************************************************************************)
(* Single-decree Paxos in its classic textbook form: four kinds of step,   *)
(* 1a, 1b, 2a and 2b, over the set msgs of every message ever sent.        *)
(*                                                                         *)
(* In the words of "The Part-Time Parliament": an acceptor is a priest, a  *)
(* value is a decree, a 1a message is NextBallot, a 1b message is          *)
(* LastVote, a 2a message is BeginBallot and a 2b message is Voted.  A     *)
(* ballot here is a plain number; the leader of ballot b is left implicit, *)
(* and at most one 2a message is ever sent per ballot, which is what the   *)
(* paper's unique ballot numbers (B1) buy.                                 *)
(*                                                                         *)
(* Messages are never taken out of msgs, so a message may be received any  *)
(* number of times, in any order, or never: loss, duplication and          *)
(* reordering are all implicit.                                            *)
(*                                                                         *)
(* The Rust transliteration is models/paxos_spec.rs; tla/README.md maps    *)
(* every variable and action below to its Rust counterpart.                *)
(***************************************************************************)
EXTENDS Integers

CONSTANTS
    Acceptor,   \* the priests that vote
    Value,      \* the decrees that may be proposed
    Quorum,     \* the sets of acceptors that may decide
    MaxBallot,  \* ballots are 0..MaxBallot (bounds the model)
    None        \* stands for "no value": an acceptor that never voted

ASSUME QuorumAssumption ==
    /\ \A Q \in Quorum : Q \subseteq Acceptor
    /\ \A Q1, Q2 \in Quorum : Q1 \cap Q2 # {}

ASSUME NoneAssumption == None \notin Value

ASSUME BallotAssumption == MaxBallot \in Nat

Ballot == 0..MaxBallot

(* -1 is below every ballot: "has taken part in no ballot yet". *)
NoBallot == -1

Message ==
         [type : {"1a"}, bal : Ballot]
    \cup [type : {"1b"}, acc : Acceptor, bal : Ballot,
          mbal : Ballot \cup {NoBallot}, mval : Value \cup {None}]
    \cup [type : {"2a"}, bal : Ballot, val : Value]
    \cup [type : {"2b"}, acc : Acceptor, bal : Ballot, val : Value]

VARIABLES
    maxBal,   \* maxBal[a]: the highest ballot acceptor a has taken part in
    maxVBal,  \* maxVBal[a]: the ballot of a's latest vote (NoBallot if none)
    maxVal,   \* maxVal[a]: the value of a's latest vote (None if none)
    msgs      \* every message ever sent

vars == <<maxBal, maxVBal, maxVal, msgs>>

TypeOK ==
    /\ maxBal \in [Acceptor -> Ballot \cup {NoBallot}]
    /\ maxVBal \in [Acceptor -> Ballot \cup {NoBallot}]
    /\ maxVal \in [Acceptor -> Value \cup {None}]
    /\ msgs \subseteq Message

Init ==
    /\ maxBal = [a \in Acceptor |-> NoBallot]
    /\ maxVBal = [a \in Acceptor |-> NoBallot]
    /\ maxVal = [a \in Acceptor |-> None]
    /\ msgs = {}

(* Sending a message adds it to msgs; sending it again changes nothing. *)
Send(m) == msgs' = msgs \cup {m}

(***************************************************************************)
(* 1a: the leader of ballot b asks the acceptors to join it.               *)
(***************************************************************************)
Phase1a(b) ==
    /\ Send([type |-> "1a", bal |-> b])
    /\ UNCHANGED <<maxBal, maxVBal, maxVal>>

(***************************************************************************)
(* 1b: acceptor a joins a ballot higher than any it has taken part in,     *)
(* promising to take part in no lower ballot, and reports its latest vote. *)
(***************************************************************************)
Phase1b(a) ==
    /\ \E m \in msgs :
          /\ m.type = "1a"
          /\ m.bal > maxBal[a]
          /\ maxBal' = [maxBal EXCEPT ![a] = m.bal]
          /\ Send([type |-> "1b", acc |-> a, bal |-> m.bal,
                   mbal |-> maxVBal[a], mval |-> maxVal[a]])
    /\ UNCHANGED <<maxVBal, maxVal>>

(***************************************************************************)
(* 2a: the leader of ballot b, holding 1b messages from every member of a  *)
(* quorum Q, asks for votes for v: any value if none of those messages     *)
(* reports a vote, else the value of the highest-numbered vote reported.   *)
(* A ballot gets at most one 2a message.                                   *)
(***************************************************************************)
Phase2a(b, v) ==
    /\ ~ \E m \in msgs : m.type = "2a" /\ m.bal = b
    /\ \E Q \in Quorum :
          LET Q1b  == {m \in msgs : /\ m.type = "1b"
                                    /\ m.acc \in Q
                                    /\ m.bal = b}
              Q1bv == {m \in Q1b : m.mbal # NoBallot}
          IN  /\ \A a \in Q : \E m \in Q1b : m.acc = a
              /\ \/ Q1bv = {}
                 \/ \E m \in Q1bv :
                       /\ m.mval = v
                       /\ \A mm \in Q1bv : m.mbal >= mm.mbal
    /\ Send([type |-> "2a", bal |-> b, val |-> v])
    /\ UNCHANGED <<maxBal, maxVBal, maxVal>>

(***************************************************************************)
(* 2b: acceptor a votes in a ballot at least as high as any it has taken   *)
(* part in.                                                                *)
(***************************************************************************)
Phase2b(a) ==
    \E m \in msgs :
       /\ m.type = "2a"
       /\ m.bal >= maxBal[a]
       /\ maxBal' = [maxBal EXCEPT ![a] = m.bal]
       /\ maxVBal' = [maxVBal EXCEPT ![a] = m.bal]
       /\ maxVal' = [maxVal EXCEPT ![a] = m.val]
       /\ Send([type |-> "2b", acc |-> a, bal |-> m.bal, val |-> m.val])

Next ==
    \/ \E b \in Ballot : \/ Phase1a(b)
                        \/ \E v \in Value : Phase2a(b, v)
    \/ \E a \in Acceptor : Phase1b(a) \/ Phase2b(a)

Spec == Init /\ [][Next]_vars

(***************************************************************************)
(* A value is chosen in ballot b when every member of some quorum voted    *)
(* for it in b.  Agreement: at most one value is ever chosen.              *)
(***************************************************************************)
VotedFor(a, b, v) ==
    [type |-> "2b", acc |-> a, bal |-> b, val |-> v] \in msgs

ChosenIn(b, v) == \E Q \in Quorum : \A a \in Q : VotedFor(a, b, v)

Chosen(v) == \E b \in Ballot : ChosenIn(b, v)

Agreement == \A v, w \in Value : Chosen(v) /\ Chosen(w) => v = w

(* Negated, to let TLC show that a value can be chosen at all. *)
NothingChosen == \A v \in Value : ~ Chosen(v)
=============================================================================
