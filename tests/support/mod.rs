//! Shared by the tests with real processes under faults: a fault-injecting relay between
//! priests and a cluster that can be killed and restarted.

pub mod cluster;
pub mod proxy;
pub mod resp;
