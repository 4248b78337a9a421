------------------------------- MODULE MCPaxos -------------------------------
(***************************************************************************)
(* Small constants for checking Paxos with TLC: three acceptors, two       *)
(* values, majority quorums.  MaxBallot is set in each .cfg file.          *)
(***************************************************************************)
EXTENDS Paxos, FiniteSets, TLC

CONSTANTS a1, a2, a3, v1, v2

MCAcceptor == {a1, a2, a3}
MCValue == {v1, v2}

(* Every majority of the acceptors. *)
MCQuorum == {Q \in SUBSET MCAcceptor :
                2 * Cardinality(Q) > Cardinality(MCAcceptor)}

(* Symmetry sets: TLC keys each state by its least fingerprint over these. *)
SymmetryAll == Permutations(MCAcceptor) \cup Permutations(MCValue)
SymmetryAcceptors == Permutations(MCAcceptor)
=============================================================================
