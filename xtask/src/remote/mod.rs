//! A REAPI v2 client and nothing else: the endpoint, the client (CAS,
//! action cache, Execute, ByteStream), the pieces an action is made of
//! (digests, input roots, the modules a ThinLTO index imports) and the
//! engine process this machine runs. What a build asks of it is the
//! launcher's (`launcher::plan`).

pub mod client;
pub mod credentials;
pub mod digest;
pub mod endpoint;
pub mod engine;
pub mod index;
pub mod input_root;
pub mod retry;
