//! REAPI digests: SHA-256 of the bytes and their length, for blobs and for
//! the protobuf messages (Directory, Command, Action) stored as blobs.

use bazel_remote_apis::build::bazel::remote::execution::v2::Digest;
use sha2::{Digest as _, Sha256};

pub fn of(bytes: &[u8]) -> Digest {
    Digest { hash: hex::encode(Sha256::digest(bytes)), size_bytes: bytes.len() as i64 }
}

/// A message's canonical bytes and their digest.
pub fn of_message(m: &impl prost::Message) -> (Digest, Vec<u8>) {
    let bytes = m.encode_to_vec();
    (of(&bytes), bytes)
}

/// `hash/size`, as logs and resource names write it.
pub fn show(d: &Digest) -> String {
    format!("{}/{}", d.hash, d.size_bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_blob_has_the_well_known_digest() {
        let d = of(b"");
        assert_eq!(d.hash, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        assert_eq!(d.size_bytes, 0);
        assert_eq!(show(&of(b"abc")).split('/').nth(1), Some("3"));
    }
}
