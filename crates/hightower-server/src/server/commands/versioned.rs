//! The versioned extensions, in their own `HT.` namespace:
//!
//! - `HT.GETV key` -> `[value, version]`, or a null when absent.
//! - `HT.CAS key version value` -> the new version; writes only when the
//!   key is at `version` now (0: only when absent). Otherwise
//!   `-CONFLICT ...` naming the version found, and nothing is written.
//! - `HT.CAD key version` -> the version of the deletion, or `-CONFLICT`.
//! - `HT.COMPACT` -> a map of what one full compaction pass did.

use hightower_engine::{Command, EngineError, Expect};

use crate::server::dispatch::{CommandError, CommandResult, Ctx};
use crate::server::resp::Request;

/// A version as a reply integer.
fn version_reply(version: u64) -> Result<i64, CommandError> {
    i64::try_from(version).map_err(|_| CommandError::err("version above 2^63 cannot be returned"))
}

/// Parses a version argument; 0 stands for "absent".
fn parse_version(arg: &[u8]) -> Result<Expect, CommandError> {
    let version = std::str::from_utf8(arg)
        .ok()
        .and_then(|text| text.parse::<u64>().ok())
        .ok_or_else(|| CommandError::err("version is not an unsigned integer"))?;
    Ok(if version == 0 {
        Expect::Absent
    } else {
        Expect::Version(version)
    })
}

/// The reply to a refused conditional write.
fn conflict(error: EngineError) -> CommandError {
    match error {
        EngineError::VersionConflict {
            expected, actual, ..
        } => {
            let found = actual.map_or("absent".to_string(), |v| format!("at version {v}"));
            CommandError::coded(format!("CONFLICT expected {expected}, the key is {found}"))
        }
        other => other.into(),
    }
}

pub(crate) fn getv(ctx: &mut Ctx<'_>, request: &Request<'_>) -> CommandResult {
    let Some(found) = ctx.engine().get(request.arg(1))? else {
        ctx.reply().null_array();
        return Ok(());
    };
    let version = version_reply(found.version)?;
    let mut reply = ctx.reply();
    reply.array(2);
    reply.bulk(&found.value);
    reply.integer(version);
    Ok(())
}

pub(crate) fn cas(ctx: &mut Ctx<'_>, request: &Request<'_>) -> CommandResult {
    let expect = parse_version(request.arg(2))?;
    let put = Command::put(request.arg(1), request.arg(3)).expecting(expect);
    let version = ctx.engine().submit(put).map_err(conflict)?;
    let version = version_reply(version)?;
    ctx.reply().integer(version);
    Ok(())
}

pub(crate) fn cad(ctx: &mut Ctx<'_>, request: &Request<'_>) -> CommandResult {
    let Expect::Version(version) = parse_version(request.arg(2))? else {
        return Err(CommandError::err(
            "HT.CAD needs the version of an existing key, not 0",
        ));
    };
    let delete = Command::delete(request.arg(1)).expecting(Expect::Version(version));
    let version = ctx.engine().submit(delete).map_err(conflict)?;
    let version = version_reply(version)?;
    ctx.reply().integer(version);
    Ok(())
}

pub(crate) fn compact(ctx: &mut Ctx<'_>, _request: &Request<'_>) -> CommandResult {
    tracing::info!(id = ctx.session.id, "compaction pass requested");
    let report = ctx.engine().run_compaction_now()?;
    tracing::info!(
        segments_in = report.segments_in,
        bytes_reclaimed = report.bytes_reclaimed,
        "compaction pass done"
    );
    let fields: [(&str, u64); 8] = [
        ("segments_in", report.segments_in as u64),
        ("segments_out", report.segments_out as u64),
        ("bytes_read", report.bytes_read),
        ("bytes_written", report.bytes_written),
        ("bytes_reclaimed", report.bytes_reclaimed),
        ("records_kept", report.records_kept),
        ("records_dropped", report.records_dropped),
        ("elapsed_ms", report.elapsed.as_millis() as u64),
    ];
    let mut reply = ctx.reply();
    reply.map(fields.len());
    for (name, value) in fields {
        reply.bulk(name.as_bytes());
        reply.integer(i64::try_from(value).unwrap_or(i64::MAX));
    }
    Ok(())
}
