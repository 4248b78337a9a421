use parliament::models::paxos_spec::*;
use stateright::Model;
use std::collections::{HashSet, VecDeque};
fn main() {
    for mb in [1usize, 2] {
        let m = PaxosSpecConfig { max_ballot: mb, ..Default::default() }.into_model();
        let mut seen = HashSet::new();
        let mut q = VecDeque::new();
        for s in m.init_states() { seen.insert(s); q.push_back(s); }
        let mut extra_w = 0u64; let mut extra_q = 0u64;
        let (mut gen, mut stut, mut dup_within, mut s2a_stut) = (1u64, 0u64, 0u64, 0u64);
        let mut acts = Vec::new();
        while let Some(s) = q.pop_front() {
            m.actions(&s, &mut acts);
            { let mut g = std::collections::HashMap::new(); let mut g2 = std::collections::HashMap::new();
              for a in &acts { if let PaxosAction::Phase2a{b,v,q,..} = a { *g.entry((*b,*v,*q)).or_insert(0u64) += 1; *g2.entry((*b,*v)).or_insert(0u64) += 1; } }
              for (_, c) in g { extra_w += c - 1; } for (_, c) in g2 { extra_q += c - 1; } }
            let mut local = HashSet::new();
            for a in acts.drain(..) {
                let t = m.next_state(&s, a).unwrap();
                gen += 1;
                if t == s { stut += 1; }
                if !local.insert(t) { dup_within += 1; if matches!(a, PaxosAction::Phase2a{..}) { s2a_stut+=1; } }
                if seen.insert(t) { q.push_back(t); }
            }
        }
        println!("mb={mb} distinct={} gen={gen} stutter={stut} dup_within_state={dup_within} dup2a={s2a_stut} extra_witness={extra_w} extra_q_and_w={extra_q}", seen.len());
    }
}
