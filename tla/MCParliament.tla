----------------------------- MODULE MCParliament -----------------------------
(***************************************************************************)
(* TLC model of Parliament: the constants are set in MCParliament.cfg (3   *)
(* priests, 2 presidents, rounds 1..1, decree numbers 0..1, the defaults  *)
(* of parliament check parliament-spec); president p's command is p.       *)
(***************************************************************************)
EXTENDS Parliament, TLC

(* President p's command is decree p. *)
MCProposes(p) == {p}
=============================================================================
