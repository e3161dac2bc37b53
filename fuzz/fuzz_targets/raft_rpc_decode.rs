//! Fuzz target `raft_rpc_decode`: arbitrary bytes as the payload of a
//! frame on the Raft port (after the handshake), decoded as a request and
//! as a response. Decoding may fail but never panic, and a request that
//! decodes encodes again.
#![no_main]

use hightower_raft::network::{RpcRequest, RpcResponse};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(request) = postcard::from_bytes::<RpcRequest>(data) {
        postcard::to_allocvec(&request).expect("a decoded request encodes");
    }
    let _ = postcard::from_bytes::<RpcResponse>(data);
});
