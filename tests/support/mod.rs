//! Shared by the tests that start real priests: the one cluster harness ([`cluster`]), a
//! fault-injecting relay between priests ([`proxy`]) and small RESP helpers ([`resp`]).

// Each test crate that includes this module uses only some of it.
#![allow(dead_code)]

pub mod cluster;
pub mod proxy;
pub mod resp;
