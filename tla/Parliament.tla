------------------------------ MODULE Parliament ------------------------------
(***************************************************************************)
(* The multi-decree Parliament of "The Part-Time Parliament" (section 3),  *)
(* as the priests of src/parliament run it, without clients, reads,        *)
(* batching, snapshots or membership changes.                              *)
(*                                                                         *)
(* Priests 0..N-1 pass decrees numbered 0..D-1, one Synod instance per     *)
(* number, but a president pays for the first phase once per presidency:  *)
(* its NextBallot(b, n) asks for every vote at a number >= n at once, and  *)
(* a promise covers every number.  The first P priests may be president;   *)
(* president p begins the commands Proposes(p) (in the TLC models decree   *)
(* p; in the refinement check from the actors, any client's commands),    *)
(* and the olive-day decree Olive fills a number at which nobody in its    *)
(* quorum voted.  Ballot numbers are Synod.tla's: priest p's ballot of     *)
(* round r is r * N + p.                                                   *)
(*                                                                         *)
(* Each priest p keeps in its ledger                                       *)
(*   lastTried[p]     the last ballot number p tried,                      *)
(*   nextBal[p]       the largest ballot number p promised,                *)
(*   prevVote[p][n]   p's vote at decree number n in its latest ballot     *)
(*                    there (NoVote if none), and                          *)
(*   learned[p][n]    the decree p knows was passed as number n (None).    *)
(* and, while it presides, office[p]: the ballot, its quorum and the next  *)
(* decree number free for a new command (volatile in the actors).          *)
(* msgs is every message ever sent: messengers may lose, delay, repeat and *)
(* reorder them.  ballots is Lamport's set B for every decree number: the  *)
(* ballots begun, each with its number, ballot, president, decree, quorum  *)
(* and voters; the protocol never reads it.                                *)
(*                                                                         *)
(* As in src/parliament, a president is in its own quorum, and when it     *)
(* takes office it promises its ballot and counts its own votes with the   *)
(* reports of the others, in one step; it begins no ballot at a number it  *)
(* knows passed. It votes in a ballot as it begins it when the others it   *)
(* asks make no quorum without it (Votes(p, Q)); otherwise it leaves its   *)
(* own vote out, so that their votes pass the decree without its disk      *)
(* write, and it may vote later (VoteLate; deployed, when they are slow).  *)
(* A priest reports a decree it learned as a vote in the ballot it         *)
(* promises (the highest a report can carry). A president that passes a    *)
(* decree does not write it at once: it learns it from its own Success,    *)
(* like any priest (the actor keeps it in memory and saves it with its     *)
(* next save). office[p] is the last office p held: a president that       *)
(* leaves office (it promised a higher ballot, or crashed) just begins no  *)
(* more ballots in it, which the spec allows. A LastVote that comes after  *)
(* the president took office joins its priest to the president's quorum    *)
(* (JoinQuorum): a president asks every priest that promised its ballot,   *)
(* and a decree passes once the voters include a quorum, whichever of them *)
(* they are.                                                               *)
(*                                                                         *)
(* With Genesis, the Chamber starts as src/parliament starts it: every     *)
(* ledger has promised ballot 0, and priest 0 is in office in it, with     *)
(* every priest as its quorum.                                             *)
(*                                                                         *)
(* The Rust transliteration is models/parliament_spec.rs; tla/README.md    *)
(* maps every variable and action to its Rust counterpart.                 *)
(***************************************************************************)
EXTENDS Integers, FiniteSets

CONSTANTS
    N,          \* the number of priests
    P,          \* priests 0..P-1 may be president; priest i's command is decree i
    MaxRound,   \* ballots have rounds 1..MaxRound
    D,          \* decree numbers 0..D-1
    Genesis,    \* TRUE: the Chamber starts as deployed, priest 0 in office
    Proposes(_),\* Proposes(p): the commands president p may begin
    Olive,      \* the olive-day decree: passes nothing
    None        \* no decree

ASSUME Constants ==
    /\ N \in Nat \ {0}
    /\ P \in 1..N
    /\ MaxRound \in Nat \ {0}
    /\ D \in Nat \ {0}
    /\ Genesis \in BOOLEAN

Priest == 0..(N - 1)
Proposer == 0..(P - 1)
Number == 0..(D - 1)
Command == UNION {Proposes(p) : p \in Proposer}
Decree == Command \cup {Olive}

ASSUME Distinct == /\ Olive \notin Command
                   /\ None \notin Decree

Quorum == {Q \in SUBSET Priest : 2 * Cardinality(Q) > N}

BallotsOf(p) == {r * N + p : r \in 1..MaxRound}
(* With Genesis, ballot 0 (round 0 of priest 0) is the genesis ballot: every *)
(* ledger starts having promised it, and priest 0 starts in office in it,   *)
(* with every priest as its quorum, without a NextBallot (as src/parliament *)
(* starts).                                                                 *)
GenesisBallot == 0
GenesisQuorum == Priest
BallotNum == UNION {BallotsOf(p) : p \in Proposer}
             \cup (IF Genesis THEN {GenesisBallot} ELSE {})
Owner(b) == b % N

NoBallot == -1
NoVote == [bal |-> NoBallot, dec |-> None]
Vote == [bal : BallotNum, dec : Decree]
NoOffice == [bal |-> NoBallot, qrm |-> {}, next |-> 0]

(* A LastVote's votes: a function from the numbers n..D-1 it reports on. *)
Report == UNION {[n..(D - 1) -> Vote \cup {NoVote}] : n \in 0..D}

Message ==
         [type : {"NextBallot"}, bal : BallotNum, from : 0..D]
    \cup [type : {"LastVote"}, bal : BallotNum, from : Priest, votes : Report]
    \cup [type : {"BeginBallot"}, bal : BallotNum, num : Number, dec : Decree,
          to : Priest]
    \cup [type : {"Voted"}, bal : BallotNum, num : Number, from : Priest]
    \cup [type : {"Success"}, num : Number, dec : Decree]

VARIABLES lastTried, nextBal, prevVote, learned, office, msgs, ballots

vars == <<lastTried, nextBal, prevVote, learned, office, msgs, ballots>>

BallotRecord == [num : Number, bal : BallotNum, pres : Proposer, dec : Decree,
                 qrm : Quorum, vot : SUBSET Priest]

TypeOK ==
    /\ lastTried \in [Priest -> BallotNum \cup {NoBallot}]
    /\ nextBal \in [Priest -> BallotNum \cup {NoBallot}]
    /\ prevVote \in [Priest -> [Number -> Vote \cup {NoVote}]]
    /\ learned \in [Priest -> [Number -> Decree \cup {None}]]
    /\ office \in [Priest -> [bal : BallotNum, qrm : Quorum, next : 0..D]
                             \cup {NoOffice}]
    /\ msgs \subseteq Message
    /\ ballots \subseteq BallotRecord

Init ==
    /\ lastTried = [p \in Priest |-> IF Genesis /\ p = 0 THEN GenesisBallot
                                    ELSE NoBallot]
    /\ nextBal = [p \in Priest |-> IF Genesis THEN GenesisBallot ELSE NoBallot]
    /\ prevVote = [p \in Priest |-> [n \in Number |-> NoVote]]
    /\ learned = [p \in Priest |-> [n \in Number |-> None]]
    /\ office = [p \in Priest |->
                   IF Genesis /\ p = 0
                   THEN [bal |-> GenesisBallot, qrm |-> GenesisQuorum, next |-> 0]
                   ELSE NoOffice]
    /\ msgs = {}
    /\ ballots = {}

Send(ms) == msgs' = msgs \cup ms

(* The first decree number p does not know to be passed (D if none). *)
FirstGap(p) ==
    IF \A n \in Number : learned[p][n] # None
    THEN D
    ELSE CHOOSE n \in Number : /\ learned[p][n] = None
                               /\ \A m \in 0..(n - 1) : learned[p][m] # None

(* What p reports at numbers >= n when it promises b: its votes, and the  *)
(* decrees it learned as votes in b.                                       *)
ReportOf(p, b, n) ==
    [k \in n..(D - 1) |-> IF learned[p][k] # None
                          THEN [bal |-> b, dec |-> learned[p][k]]
                          ELSE prevVote[p][k]]

(***************************************************************************)
(* Step 1: candidate p picks a ballot number b above every one it tried  *)
(* or promised, writes lastTried[p] = b, and sends NextBallot(b, n), n    *)
(* its first unknown decree number (D if it knows them all).              *)
(***************************************************************************)
TryNewBallot(p, b) ==
    /\ b > lastTried[p]
    /\ b > nextBal[p]
    /\ lastTried' = [lastTried EXCEPT ![p] = b]
    /\ Send({[type |-> "NextBallot", bal |-> b, from |-> FirstGap(p)]})
    /\ UNCHANGED <<nextBal, prevVote, learned, office, ballots>>

(***************************************************************************)
(* Step 2: on NextBallot(b, n) with b > nextBal[q], priest q promises b   *)
(* for every decree number and reports its votes at every number >= n.    *)
(***************************************************************************)
SendLastVote(q) ==
    /\ \E m \in msgs :
          /\ m.type = "NextBallot"
          /\ Owner(m.bal) # q
          /\ m.bal > nextBal[q]
          /\ nextBal' = [nextBal EXCEPT ![q] = m.bal]
          /\ Send({[type |-> "LastVote", bal |-> m.bal, from |-> q,
                    votes |-> ReportOf(q, m.bal, m.from)]})
    /\ UNCHANGED <<lastTried, prevVote, learned, office, ballots>>

(* The latest of a set of votes (NoVote if none of them is a vote). *)
Latest(vs) ==
    IF \A v \in vs : v.bal = NoBallot
    THEN NoVote
    ELSE CHOOSE v \in vs : \A w \in vs : v.bal >= w.bal

(***************************************************************************)
(* Step 3: candidate p, trying b = lastTried[p] and not yet presiding in  *)
(* it, holds LastVote(b) from every other member of a quorum Q.  It       *)
(* promises b itself and takes office: for each decree number from its    *)
(* NextBallot's n up to the highest one reported that it does not know    *)
(* passed, it begins ballot b with the decree of the latest vote reported *)
(* there (its own votes counted), or Olive where none is, votes in each,   *)
(* and sends BeginBallot to the others of Q.  Its next free number is     *)
(* above those, and above every decree it knows.                           *)
(***************************************************************************)
Max(S) == CHOOSE x \in S : \A y \in S : x >= y

(* Whether president p votes in a ballot with quorum Q as it begins it:   *)
(* when the others of Q are no quorum without it.                          *)
Votes(p, Q) == Q \ {p} \notin Quorum

TakeOffice(p, Q) ==
    LET b == lastTried[p]
        n == (CHOOSE m \in msgs : m.type = "NextBallot" /\ m.bal = b).from
        lvs == {m \in msgs : /\ m.type = "LastVote"
                             /\ m.bal = b
                             /\ m.from \in Q \ {p}}
        reports == {m.votes : m \in lvs}
                   \cup {[k \in n..(D - 1) |-> prevVote[p][k]]}
        latest(k) == Latest({r[k] : r \in reports})
        voted == {k \in n..(D - 1) : latest(k) # NoVote}
        top == IF voted = {} THEN n - 1 ELSE Max(voted)
        known == {k \in Number : learned[p][k] # None}
        begun == {k \in n..top : learned[p][k] = None}
        next == Max({n, top + 1} \cup {k + 1 : k \in known})
        dec(k) == IF latest(k) = NoVote THEN Olive ELSE latest(k).dec
    IN  /\ b # NoBallot
        /\ office[p].bal # b
        /\ nextBal[p] < b
        /\ p \in Q
        /\ \A q \in Q \ {p} : \E m \in lvs : m.from = q
        /\ nextBal' = [nextBal EXCEPT ![p] = b]
        /\ prevVote' = [prevVote EXCEPT ![p] =
                          [k \in Number |-> IF k \in begun /\ Votes(p, Q)
                                            THEN [bal |-> b, dec |-> dec(k)]
                                            ELSE prevVote[p][k]]]
        /\ office' = [office EXCEPT ![p] = [bal |-> b, qrm |-> Q, next |-> next]]
        /\ ballots' = ballots \cup
                        {[num |-> k, bal |-> b, pres |-> p, dec |-> dec(k),
                          qrm |-> Q, vot |-> IF Votes(p, Q) THEN {p} ELSE {}] :
                         k \in begun}
        /\ Send({[type |-> "BeginBallot", bal |-> b, num |-> k, dec |-> dec(k),
                  to |-> q] : k \in begun, q \in Q \ {p}})
        /\ UNCHANGED <<lastTried, learned>>

(***************************************************************************)
(* Step 4 (pipelined): president p, in office in b = lastTried[p] and     *)
(* having promised nothing higher, begins ballot b for a command d at its *)
(* next free number, votes if Votes(p, Q), and sends BeginBallot to the   *)
(* others of its quorum Q; no NextBallot is needed.                        *)
(***************************************************************************)
BeginNew(p, d) ==
    LET b == lastTried[p]
        k == office[p].next
        Q == office[p].qrm
    IN  /\ b # NoBallot
        /\ office[p].bal = b
        /\ nextBal[p] = b
        /\ k < D
        /\ prevVote' = IF Votes(p, Q)
                       THEN [prevVote EXCEPT ![p][k] = [bal |-> b, dec |-> d]]
                       ELSE prevVote
        /\ office' = [office EXCEPT ![p].next = k + 1]
        /\ ballots' = ballots \cup
                        {[num |-> k, bal |-> b, pres |-> p, dec |-> d,
                          qrm |-> Q, vot |-> IF Votes(p, Q) THEN {p} ELSE {}]}
        /\ Send({[type |-> "BeginBallot", bal |-> b, num |-> k, dec |-> d,
                  to |-> q] : q \in office[p].qrm \ {p}})
        /\ UNCHANGED <<lastTried, nextBal, learned>>

(***************************************************************************)
(* A priest votes in BeginBallot(b, k, d) when b >= nextBal[q] (a higher b *)
(* raises its promise), and answers Voted(b, k).                           *)
(***************************************************************************)
CastVote(q) ==
    /\ \E m \in msgs :
          /\ m.type = "BeginBallot"
          /\ m.to = q
          /\ m.bal >= nextBal[q]
          /\ prevVote[q][m.num].bal # m.bal
          /\ nextBal' = [nextBal EXCEPT ![q] = m.bal]
          /\ prevVote' = [prevVote EXCEPT ![q][m.num] =
                            [bal |-> m.bal, dec |-> m.dec]]
          /\ ballots' = {IF B.num = m.num /\ B.bal = m.bal
                         THEN [B EXCEPT !.vot = @ \cup {q}]
                         ELSE B : B \in ballots}
          /\ Send({[type |-> "Voted", bal |-> m.bal, num |-> m.num,
                    from |-> q]})
    /\ UNCHANGED <<lastTried, learned, office>>

(***************************************************************************)
(* President p, in office in b = lastTried[p] and having promised nothing *)
(* higher, votes in a ballot b of its own at k that it began without its  *)
(* vote (the others could pass it without it): deployed, its vote timer   *)
(* ran out before their votes came.                                        *)
(***************************************************************************)
VoteLate(p, k) ==
    LET b == lastTried[p]
    IN  /\ b # NoBallot
        /\ office[p].bal = b
        /\ nextBal[p] = b
        /\ prevVote[p][k].bal # b
        /\ learned[p][k] = None
        /\ \E B \in ballots :
              /\ B.pres = p
              /\ B.bal = b
              /\ B.num = k
              /\ prevVote' = [prevVote EXCEPT ![p][k] = [bal |-> b, dec |-> B.dec]]
              /\ ballots' = (ballots \ {B}) \cup {[B EXCEPT !.vot = @ \cup {p}]}
        /\ UNCHANGED <<lastTried, nextBal, learned, office, msgs>>

(***************************************************************************)
(* Step 5: the members of the quorum of president p's ballot              *)
(* b = lastTried[p] at k that p holds Voted(b, k) from, with p itself if *)
(* it voted in the ballot, are a quorum: the decree is passed.            *)
(* It sends Success(k, d), and learns d from it like any priest (Learn).  *)
(***************************************************************************)
Succeed(p, k) ==
    /\ learned[p][k] = None
    /\ \E B \in ballots :
          /\ B.pres = p
          /\ B.bal = lastTried[p]
          /\ B.num = k
          /\ ({p} \cap B.vot)
             \cup {q \in B.qrm \ {p} :
                   [type |-> "Voted", bal |-> B.bal, num |-> k, from |-> q] \in msgs}
             \in Quorum
          /\ [type |-> "Success", num |-> k, dec |-> B.dec] \notin msgs
          /\ Send({[type |-> "Success", num |-> k, dec |-> B.dec]})
    /\ UNCHANGED <<lastTried, nextBal, prevVote, learned, office, ballots>>

(***************************************************************************)
(* Step 6: on Success(k, d), a priest writes d in its ledger.              *)
(***************************************************************************)
Learn(q) ==
    /\ \E m \in msgs :
          /\ m.type = "Success"
          /\ learned[q][m.num] = None
          /\ learned' = [learned EXCEPT ![q][m.num] = m.dec]
    /\ UNCHANGED <<lastTried, nextBal, prevVote, office, msgs, ballots>>

(***************************************************************************)
(* President p of b = lastTried[p], with quorum Q and having promised     *)
(* nothing higher (the actor steps down when it does), holds a LastVote   *)
(* of b from q outside Q: q joins its quorum.  From its next free number  *)
(* k on, its ballots ask q too.  Nobody in Q voted at k or above before b *)
(* (they reported every such vote when p took office), so B3 for the      *)
(* grown quorum asks only for q's reports: p begins b (voting if         *)
(* Votes(p, Q2)) at every number from k up to the highest q reported,     *)
(* with q's reported decree or Olive, at the numbers it does not know     *)
(* passed, and its next free number is above them.                         *)
(***************************************************************************)
JoinQuorum(p, q) ==
    LET b == lastTried[p]
        o == office[p]
        Q2 == o.qrm \cup {q}
        k0 == o.next
    IN  /\ b # NoBallot
        /\ o.bal = b
        /\ nextBal[p] = b
        /\ q # p
        /\ q \notin o.qrm
        /\ \E m \in msgs :
              /\ m.type = "LastVote"
              /\ m.bal = b
              /\ m.from = q
              /\ LET voted == {k \in k0..(D - 1) : m.votes[k] # NoVote}
                     top == IF voted = {} THEN k0 - 1 ELSE Max(voted)
                     begun == {k \in k0..top : learned[p][k] = None}
                     dec(k) == IF m.votes[k] = NoVote THEN Olive
                               ELSE m.votes[k].dec
                 IN  /\ office' = [office EXCEPT ![p] =
                                    [bal |-> b, qrm |-> Q2, next |-> top + 1]]
                     /\ prevVote' = [prevVote EXCEPT ![p] =
                                    [k \in Number |->
                                       IF k \in begun /\ Votes(p, Q2)
                                       THEN [bal |-> b, dec |-> dec(k)]
                                       ELSE prevVote[p][k]]]
                     /\ ballots' = ballots \cup
                                    {[num |-> k, bal |-> b, pres |-> p,
                                      dec |-> dec(k), qrm |-> Q2,
                                      vot |-> IF Votes(p, Q2) THEN {p} ELSE {}] :
                                     k \in begun}
                     /\ Send({[type |-> "BeginBallot", bal |-> b, num |-> k,
                               dec |-> dec(k), to |-> r] :
                              k \in begun, r \in Q2 \ {p}})
    /\ UNCHANGED <<lastTried, nextBal, learned>>

Next ==
    \/ \E p \in Proposer : \E b \in BallotsOf(p) : TryNewBallot(p, b)
    \/ \E p \in Proposer : \E Q \in Quorum : TakeOffice(p, Q)
    \/ \E p \in Proposer : \E d \in Proposes(p) : BeginNew(p, d)
    \/ \E p \in Proposer : \E k \in Number : VoteLate(p, k)
    \/ \E p \in Proposer : \E k \in Number : Succeed(p, k)
    \/ \E p \in Proposer : \E q \in Priest : JoinQuorum(p, q)
    \/ \E q \in Priest : SendLastVote(q) \/ CastVote(q) \/ Learn(q)

Spec == Init /\ [][Next]_vars

(***************************************************************************)
(* The paper's conditions on the ballots of each decree number, and what  *)
(* they give.                                                              *)
(***************************************************************************)
(* A ballot succeeded once its voters include a quorum. *)
Succeeded(B) == B.vot \cap B.qrm \in Quorum

(* B1: the ballots of one decree number have unique ballot numbers. *)
B1 == \A B, C \in ballots : B.num = C.num /\ B.bal = C.bal => B = C

(* B2: the quorums of any two ballots of one number share a priest. *)
B2 == \A B, C \in ballots : B.num = C.num => B.qrm \cap C.qrm # {}

(* B3, per decree number. *)
B3 == \A B \in ballots :
        LET E == {C \in ballots : /\ C.num = B.num
                                  /\ C.bal < B.bal
                                  /\ C.vot \cap B.qrm # {}}
        IN  \A C \in E : (\A C2 \in E : C.bal >= C2.bal) => C.dec = B.dec

(* Agreement: two successful ballots of one number passed the same decree. *)
Agreement == \A B, C \in ballots :
                /\ B.num = C.num
                /\ Succeeded(B)
                /\ Succeeded(C)
                => B.dec = C.dec

(* A decree written in a ledger was passed in a successful ballot. *)
LearnedImpliesChosen ==
    \A p \in Priest : \A k \in Number : learned[p][k] # None =>
        \E B \in ballots : B.num = k /\ Succeeded(B) /\ B.dec = learned[p][k]

(* The priests' ledgers agree wherever two of them know a decree, so the  *)
(* laws they apply, decree number after decree number, are prefixes of    *)
(* one another.                                                            *)
LogsArePrefixes ==
    \A p, q \in Priest : \A k \in Number :
        learned[p][k] # None /\ learned[q][k] # None
        => learned[p][k] = learned[q][k]
=============================================================================
