//! The Gridshift hub<->agent contract, generated from `gridshift/v1/forecast.proto`:
//! the stream's messages and service, conversions between wire forecasts and
//! `gridshift_core::Series` (which validate what arrives), and the stream's codec.
#![forbid(unsafe_code)]

pub mod codec;
mod convert;

pub use convert::WireError;

/// Generated protobuf and gRPC code.
pub mod v1 {
    #![allow(clippy::all, missing_docs)]
    tonic::include_proto!("gridshift.v1");
}

/// The encoded file descriptor set, for gRPC server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/gridshift_descriptor.bin"));

/// The stream protocol version this build speaks.
pub const PROTOCOL_VERSION: u32 = 1;
/// The oldest protocol version this build still accepts.
pub const MIN_PROTOCOL_VERSION: u32 = 1;
