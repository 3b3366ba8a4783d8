//! Remote execution over REAPI v2: the endpoint, the client, the pieces an
//! action is made of (digests, input roots, the compiler's identity, the
//! modules a ThinLTO index imports) and the engine this machine runs.

pub mod client;
pub mod compiler;
pub mod digest;
pub mod endpoint;
pub mod engine;
pub mod index;
pub mod input_root;
pub mod session;
