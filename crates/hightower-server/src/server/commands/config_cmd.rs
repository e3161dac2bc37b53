//! `CONFIG GET`, `CONFIG SET`, `CONFIG RESETSTAT` and `CONFIG HELP`.
//!
//! `CONFIG GET` answers the Redis settings a client may ask for
//! (`redis-benchmark` asks for `save` and `appendonly`, Redis's test
//! suite for `*`) under their Redis names, and the store's own tunables
//! under `hightower-*` names. Unknown names match nothing, as in Redis.
//!
//! Settings change by restart (flags or the configuration file): `CONFIG
//! SET` of a known setting to the value it has is accepted, so that a
//! client restoring what it read succeeds; any other value is refused
//! with Redis's `CONFIG SET failed` text, and an unknown setting with
//! Redis's `Unknown option` text.

use crate::server::DurabilityMode;
use crate::server::commands::connection::unknown_subcommand;
use crate::server::commands::is;
use crate::server::dispatch::{CommandError, CommandResult, Ctx};
use crate::server::glob::Glob;
use crate::server::resp::Request;

pub(crate) fn config(ctx: &mut Ctx<'_>, request: &Request<'_>) -> CommandResult {
    let sub = request.arg(1);
    if is(sub, "GET") && request.len() >= 3 {
        config_get(ctx, request)
    } else if is(sub, "SET") && request.len() >= 4 && request.len().is_multiple_of(2) {
        config_set(ctx, request)
    } else if is(sub, "RESETSTAT") && request.len() == 2 {
        // The counters are the server's since it started; nothing resets.
        ctx.reply().ok();
        Ok(())
    } else if is(sub, "HELP") && request.len() == 2 {
        let lines = [
            "CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "GET <pattern>",
            "    Return parameters matching the glob-like <pattern> and their values.",
            "SET <directive> <value>",
            "    Accepted when <value> is the current value: settings change by restart.",
            "RESETSTAT",
            "    Accepted; the statistics count from the start of the server.",
            "HELP",
            "    Print this help.",
        ];
        let mut reply = ctx.reply();
        reply.array(lines.len());
        lines.iter().for_each(|line| reply.simple(line));
        Ok(())
    } else {
        Err(unknown_subcommand(sub, "CONFIG"))
    }
}

fn config_get(ctx: &mut Ctx<'_>, request: &Request<'_>) -> CommandResult {
    let settings = settings(ctx);
    let patterns: Vec<Glob> = request.args().skip(2).map(Glob::new).collect();
    let matched: Vec<&(&str, String)> = settings
        .iter()
        .filter(|(name, _)| patterns.iter().any(|p| p.matches(name.as_bytes())))
        .collect();
    let mut reply = ctx.reply();
    reply.map(matched.len());
    for (name, value) in matched {
        reply.bulk(name.as_bytes());
        reply.bulk(value.as_bytes());
    }
    Ok(())
}

fn config_set(ctx: &mut Ctx<'_>, request: &Request<'_>) -> CommandResult {
    let settings = settings(ctx);
    // Every pair is checked before the reply, as Redis checks them all
    // before it applies any.
    for pair in (2..request.len()).step_by(2) {
        let (name, value) = (request.arg(pair), request.arg(pair + 1));
        let Some((name, current)) = settings.iter().find(|(known, _)| is(name, known)) else {
            return Err(CommandError::err(format_args!(
                "Unknown option or number of arguments for CONFIG SET - '{}'",
                String::from_utf8_lossy(&name[..name.len().min(128)])
            )));
        };
        if current.as_bytes() != value {
            return Err(CommandError::err(format_args!(
                "CONFIG SET failed (possibly related to argument '{name}') - settings change \
                 by restart: set it in the configuration file or by flag"
            )));
        }
    }
    ctx.reply().ok();
    Ok(())
}

/// Every setting `CONFIG GET` knows, with its value now.
fn settings(ctx: &Ctx<'_>) -> Vec<(&'static str, String)> {
    let config = &ctx.shared.config;
    let engine = ctx.engine().config();
    let appendfsync = match config.durability {
        DurabilityMode::Sync => "always",
        DurabilityMode::Periodic => "everysec",
        DurabilityMode::None => "no",
    };
    let compaction = &engine.compaction;
    vec![
        ("appendonly", "yes".to_string()),
        ("appendfsync", appendfsync.to_string()),
        ("save", String::new()),
        ("databases", "1".to_string()),
        ("maxclients", config.max_connections.to_string()),
        ("timeout", config.idle_timeout_secs.to_string()),
        ("port", config.listen.port().to_string()),
        ("bind", config.listen.ip().to_string()),
        ("dir", config.data_dir.display().to_string()),
        (
            "proto-max-bulk-len",
            ctx.shared.limits.bulk_bytes_max.to_string(),
        ),
        ("maxmemory", "0".to_string()),
        ("maxmemory-policy", "noeviction".to_string()),
        ("enable-debug-command", "no".to_string()),
        (
            "hightower-segment-bytes-max",
            engine.segment_bytes_max.to_string(),
        ),
        (
            "hightower-key-bytes-max",
            engine.limits.key_bytes_max.to_string(),
        ),
        (
            "hightower-value-bytes-max",
            engine.limits.value_bytes_max.to_string(),
        ),
        (
            "hightower-batch-bytes-max",
            engine.limits.batch_bytes_max.to_string(),
        ),
        (
            "hightower-write-buffer-bytes",
            engine.write_buffer_bytes.to_string(),
        ),
        (
            "hightower-compaction-automatic",
            yes_no(compaction.automatic).to_string(),
        ),
        (
            "hightower-compaction-min-bytes",
            compaction.min_bytes.to_string(),
        ),
        (
            "hightower-compaction-max-segments",
            compaction.max_segments.to_string(),
        ),
        (
            "hightower-compaction-tombstone-grace-secs",
            compaction.tombstone_grace.as_secs().to_string(),
        ),
        (
            "hightower-compaction-dead-ratio-min",
            compaction.dead_ratio_min.to_string(),
        ),
        (
            "hightower-reply-bytes-max",
            config.reply_bytes_max.to_string(),
        ),
        (
            "hightower-pending-replies-max",
            config.pending_replies_max.to_string(),
        ),
        (
            "hightower-value-cache-mib",
            config.value_cache_mib.to_string(),
        ),
    ]
}

fn yes_no(value: bool) -> &'static str {
    if value { "yes" } else { "no" }
}
