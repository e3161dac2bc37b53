//! Unit tests of the protocol codecs.

use super::*;

fn parse_all(input: &[u8], limits: ParserLimits) -> Result<Vec<Vec<Vec<u8>>>> {
    let mut parser = RequestParser::new(limits);
    let mut offset = 0;
    let mut requests = Vec::new();
    while let Some(request) = parser.parse(&input[offset..])? {
        offset += request.frame_bytes();
        requests.push(request.args().map(<[u8]>::to_vec).collect());
    }
    Ok(requests)
}

fn args(words: &[&str]) -> Vec<Vec<u8>> {
    words.iter().map(|w| w.as_bytes().to_vec()).collect()
}

#[test]
fn pipelined_arrays_parse_one_after_the_other() {
    let input = b"*1\r\n$4\r\nPING\r\n*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n";
    let requests = parse_all(input, ParserLimits::default()).expect("valid");
    assert_eq!(requests, vec![args(&["PING"]), args(&["SET", "k", ""])]);
}

#[test]
fn binary_values_keep_every_byte() {
    let input = b"*2\r\n$4\r\nECHO\r\n$4\r\n\r\n\x00\xff\r\n";
    let requests = parse_all(input, ParserLimits::default()).expect("valid");
    assert_eq!(requests[0][1], b"\r\n\x00\xff");
}

#[test]
fn a_frame_split_at_every_byte_resumes_to_the_same_request() {
    let input = b"*3\r\n$3\r\nSET\r\n$5\r\nkey:1\r\n$11\r\nhello world\r\n";
    for split in 0..input.len() {
        let mut parser = RequestParser::new(ParserLimits::default());
        assert!(
            parser
                .parse(&input[..split])
                .expect("valid prefix")
                .is_none(),
            "prefix of {split} bytes is incomplete"
        );
        let request = parser.parse(input).expect("valid").expect("complete");
        assert_eq!(request.frame_bytes(), input.len());
        assert_eq!(request.arg(2), b"hello world");
    }
}

#[test]
fn inline_requests_split_on_blanks_and_unquote() {
    let input = b"SET k \"a b\\x41\\n\" 'it\\'s'\r\nPING\n\r\n";
    let requests = parse_all(input, ParserLimits::default()).expect("valid");
    assert_eq!(
        requests,
        vec![
            vec![
                b"SET".to_vec(),
                b"k".to_vec(),
                b"a bA\n".to_vec(),
                b"it's".to_vec()
            ],
            args(&["PING"]),
            args(&[]),
        ]
    );
}

#[test]
fn unbalanced_inline_quotes_are_an_error() {
    for input in [&b"SET k \"abc\r\n"[..], b"SET k 'abc\n", b"SET \"a\"b\n"] {
        assert_eq!(
            parse_all(input, ParserLimits::default()),
            Err(ProtocolError::UnbalancedQuotes)
        );
    }
}

#[test]
fn a_bulk_above_the_value_limit_is_refused_before_its_bytes_arrive() {
    let limits = ParserLimits {
        bulk_bytes_max: 1024,
        ..ParserLimits::default()
    };
    let mut parser = RequestParser::new(limits);
    let error = parser
        .parse(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1025\r\n")
        .expect_err("above the limit");
    assert_eq!(
        error,
        ProtocolError::BulkTooLarge {
            len: 1025,
            max: 1024
        }
    );
}

#[test]
fn absurd_lengths_are_refused_without_allocating_them() {
    let cases: &[(&[u8], ProtocolError)] = &[
        (
            b"*9223372036854775807\r\n",
            ProtocolError::TooManyArguments {
                len: i64::MAX as u64,
                max: 1024 * 1024,
            },
        ),
        (
            b"*1\r\n$9223372036854775807\r\n",
            ProtocolError::BulkTooLarge {
                len: i64::MAX as u64,
                max: 64 * 1024 * 1024,
            },
        ),
        (
            b"*99999999999999999999\r\n",
            ProtocolError::InvalidMultibulkLength,
        ),
        (b"*1\r\n$-1\r\n", ProtocolError::InvalidBulkLength),
        (b"*1\r\n$12a\r\n", ProtocolError::InvalidBulkLength),
        (b"*1\r\n$\r\n", ProtocolError::InvalidBulkLength),
        (b"*\r\n", ProtocolError::InvalidMultibulkLength),
        (b"*1\r\n:1\r\n", ProtocolError::ExpectedBulk { found: b':' }),
        (b"*1\r\n$1\r\nab\r\n", ProtocolError::ExpectedCrlf),
        (b"*1\rX", ProtocolError::ExpectedCrlf),
        (&[b'*'; 40], ProtocolError::LengthLineTooLong),
    ];
    for (input, expected) in cases {
        let got = parse_all(input, ParserLimits::default());
        assert_eq!(
            got.as_ref(),
            Err(expected),
            "input {:?}",
            input.escape_ascii().to_string()
        );
    }
}

#[test]
fn a_request_above_the_frame_limit_is_refused() {
    let limits = ParserLimits {
        request_bytes_max: 64,
        ..ParserLimits::default()
    };
    let got = parse_all(b"*2\r\n$3\r\nGET\r\n$60\r\n", limits);
    assert!(matches!(
        got,
        Err(ProtocolError::RequestTooLarge { max: 64, .. })
    ));
}

#[test]
fn an_inline_line_without_newline_is_bounded() {
    let limits = ParserLimits {
        inline_bytes_max: 16,
        ..ParserLimits::default()
    };
    assert_eq!(parse_all(&[b'a'; 16], limits), Ok(vec![]));
    let few_args = ParserLimits {
        args_max: 2,
        ..ParserLimits::default()
    };
    assert!(matches!(
        parse_all(b"a b c\n", few_args),
        Err(ProtocolError::TooManyArguments { len: 3, max: 2 })
    ));
    assert_eq!(
        parse_all(&[b'a'; 17], limits),
        Err(ProtocolError::InlineTooLarge { max: 16 })
    );
}

#[test]
fn empty_and_null_arrays_are_empty_requests() {
    let requests = parse_all(b"*0\r\n*-1\r\n", ParserLimits::default()).expect("valid");
    assert_eq!(requests, vec![args(&[]), args(&[])]);
}

#[test]
fn integers_parse_strictly() {
    assert_eq!(parse_i64(b"0"), Some(0));
    assert_eq!(parse_i64(b"-9223372036854775808"), Some(i64::MIN));
    assert_eq!(parse_i64(b"9223372036854775807"), Some(i64::MAX));
    for bad in [&b""[..], b"-", b"+1", b"1 ", b"9223372036854775808", b"0x1"] {
        assert_eq!(parse_i64(bad), None, "{bad:?}");
    }
}

#[test]
fn replies_encode_per_protocol() {
    let mut two = Vec::new();
    let mut writer = ReplyWriter::new(&mut two, Protocol::Resp2);
    writer.map(1);
    writer.bulk(b"k");
    writer.null();
    writer.boolean(true);
    writer.integer(i64::MIN);
    writer.error("ERR bad\r\nline");
    assert_eq!(
        two,
        b"*2\r\n$1\r\nk\r\n$-1\r\n:1\r\n:-9223372036854775808\r\n-ERR bad  line\r\n"
    );

    let mut three = Vec::new();
    let mut writer = ReplyWriter::new(&mut three, Protocol::Resp3);
    writer.map(1);
    writer.bulk(b"k");
    writer.null();
    writer.set(0);
    writer.boolean(false);
    writer.verbatim_text(b"a");
    assert_eq!(three, b"%1\r\n$1\r\nk\r\n_\r\n~0\r\n#f\r\n=5\r\ntxt:a\r\n");
}

#[test]
fn encoded_replies_decode_back() {
    let mut out = Vec::new();
    let mut writer = ReplyWriter::new(&mut out, Protocol::Resp3);
    writer.array(3);
    writer.integer(-42);
    writer.map(1);
    writer.simple("proto");
    writer.bulk(b"\x00\r\n");
    writer.set(1);
    writer.null();
    let (value, used) = decode_value(&out, &ParserLimits::default())
        .expect("valid")
        .expect("complete");
    assert_eq!(used, out.len());
    assert_eq!(
        value,
        Value::Array(vec![
            Value::Integer(-42),
            Value::Map(vec![(
                Value::Simple(b"proto".to_vec()),
                Value::Bulk(b"\x00\r\n".to_vec())
            )]),
            Value::Set(vec![Value::Null]),
        ])
    );
    for split in 0..out.len() {
        assert_eq!(
            decode_value(&out[..split], &ParserLimits::default()),
            Ok(None)
        );
    }
}

#[test]
fn decoding_bounds_depth_and_lengths() {
    let deep = b"*1\r\n".repeat(DECODE_DEPTH_MAX + 2);
    assert_eq!(
        decode_value(&deep, &ParserLimits::default()),
        Err(ProtocolError::TooDeep)
    );
    let wide = b"%9223372036854775807\r\n";
    assert!(matches!(
        decode_value(wide, &ParserLimits::default()),
        Err(ProtocolError::TooManyArguments { .. })
    ));
    assert!(decode_value(b"?\r\n", &ParserLimits::default()).is_err());
    // Found by the fuzzer: a CR as the type byte.
    assert!(decode_value(b"\r\n\r`\n", &ParserLimits::default()).is_err());
}
