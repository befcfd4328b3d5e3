//! The Gridshift fleet end to end: simulated Karmada host and member clusters,
//! the real hub and agents as processes, the offline demo and its view.
#![forbid(unsafe_code)]

pub mod binaries;
pub mod fleet;
pub mod objects;
pub mod pki;
pub mod process;
pub mod wait;

pub use fleet::{Fleet, FleetConfig, Member, MemberSpec, NodeGroup};

/// A path inside the repository (where this crate's sources are).
pub fn repo_path(relative: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("repository root").join(relative)
}
pub mod accounting;
pub mod observe;
pub mod render;
pub mod scenario;
pub mod summary;
pub mod trace;
pub mod workload;
