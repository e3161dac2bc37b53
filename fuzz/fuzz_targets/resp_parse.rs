//! Fuzz target `resp_parse`: arbitrary bytes through the server's request
//! parser and reply decoder, with small limits so that the limit checks
//! are reached. The parser must never panic, every frame must lie inside
//! its input, and feeding the same bytes in two pieces (the parser
//! resumes) must give exactly the requests that one piece gives.
#![no_main]

use hightower_server::server::resp::{ParserLimits, RequestParser, decode_value};

const LIMITS: ParserLimits = ParserLimits {
    args_max: 64,
    bulk_bytes_max: 512,
    inline_bytes_max: 256,
    request_bytes_max: 2048,
};

/// Requests parsed from `data`, the first `split` bytes offered first;
/// the last element is the error, if parsing stopped at one.
fn parse_in_two(data: &[u8], split: usize) -> (Vec<Vec<Vec<u8>>>, Option<String>) {
    let mut parser = RequestParser::new(LIMITS);
    let mut requests = Vec::new();
    let mut offset = 0;
    let mut available = split.min(data.len());
    loop {
        match parser.parse(&data[offset..available]) {
            Ok(Some(request)) => {
                assert!(request.frame_bytes() > 0, "a frame takes at least one byte");
                assert!(
                    offset + request.frame_bytes() <= available,
                    "a frame lies inside its input"
                );
                assert!(request.len() <= LIMITS.args_max, "argument limit holds");
                for arg in request.args() {
                    assert!(arg.len() <= LIMITS.bulk_bytes_max.max(LIMITS.inline_bytes_max));
                }
                requests.push(request.args().map(<[u8]>::to_vec).collect());
                offset += request.frame_bytes();
            }
            Ok(None) if available < data.len() => available = data.len(),
            Ok(None) => return (requests, None),
            Err(error) => return (requests, Some(error.to_string())),
        }
    }
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let split = usize::from(first) % (rest.len() + 1);
    let whole = parse_in_two(rest, rest.len());
    let pieces = parse_in_two(rest, split);
    assert_eq!(
        whole, pieces,
        "resuming after {split} bytes changed the result"
    );

    if let Ok(Some((_, used))) = decode_value(rest, &LIMITS) {
        assert!(used <= rest.len(), "a value lies inside its input");
    }
});
