//! The carbon-aware scheduler: pods with `spec.schedulerName: carbon-aware-scheduler`
//! are placed on the cleanest feasible node now or, if they opted in, at a cleaner hour.
//! Every decision is `gridshift_core::scheduling::schedule_one`; this module is the
//! Kubernetes side of it. See `README.md` in this directory.
//!
//! | module | what |
//! |---|---|
//! | [`adapter`] | pure: k8s-openapi `Pod` / `Node` / PVC / PV / StorageClass → the decisions' plain data; node grid-zone resolution (`ZoneConfig`); `is_ours` |
//! | [`controller`] | I/O: watches, queue, bindings, events, leader election |
pub mod adapter;
pub mod controller;
