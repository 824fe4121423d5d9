//! Shared support for the cross-crate scenarios and benchmarks: a real relay process
//! (harness), a userspace impairment proxy (proxy) and villages built from the corpus.

pub mod corpus;
pub mod harness;
pub mod proxy;
