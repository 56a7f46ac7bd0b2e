//! gRPC without generated code: descriptors from server reflection or
//! `.proto` files, a `DynamicMessage` codec, and a pool of channels.

pub mod descriptors;
