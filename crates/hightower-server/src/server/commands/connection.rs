//! Connection and introspection commands: PING, ECHO, HELLO, AUTH, QUIT,
//! SELECT, CLIENT, COMMAND and ACL.

use crate::server::SERVER_VERSION;
use hightower_auth::TOKEN_PREFIX;

use crate::server::auth::{AuthFailure, DEFAULT_USER, Principal};
use crate::server::commands::{TABLE, is, parse_int};
use crate::server::dispatch::{CommandError, CommandResult, CommandSpec, Ctx, lookup};
use crate::server::metrics::ServerMetrics;
use crate::server::resp::{Protocol, ReplyWriter, Request};

/// Client names may hold printable ASCII without blanks, as in Redis.
const CLIENT_NAME_BYTES_MAX: usize = 256;

pub(crate) fn ping(ctx: &mut Ctx<'_>, request: &Request<'_>) -> CommandResult {
    match request.len() {
        1 => ctx.reply().simple("PONG"),
        2 => ctx.reply().bulk(request.arg(1)),
        _ => return Err(CommandError::wrong_arity("ping")),
    }
    Ok(())
}

pub(crate) fn echo(ctx: &mut Ctx<'_>, request: &Request<'_>) -> CommandResult {
    ctx.reply().bulk(request.arg(1));
    Ok(())
}

pub(crate) fn quit(ctx: &mut Ctx<'_>, _request: &Request<'_>) -> CommandResult {
    ctx.session.closing = true;
    ctx.reply().ok();
    Ok(())
}

pub(crate) fn select(ctx: &mut Ctx<'_>, request: &Request<'_>) -> CommandResult {
    if parse_int(request.arg(1))? != 0 {
        return Err(CommandError::err("DB index is out of range"));
    }
    ctx.reply().ok();
    Ok(())
}

/// `READONLY`: this connection's reads see the node's own state, without
/// the leader's read barrier (a node of a Raft group; elsewhere refused as
/// Redis refuses it outside a cluster).
pub(crate) fn readonly(ctx: &mut Ctx<'_>, _request: &Request<'_>) -> CommandResult {
    set_follower_reads(ctx, true)
}

/// `READWRITE`: back to linearizable reads.
pub(crate) fn readwrite(ctx: &mut Ctx<'_>, _request: &Request<'_>) -> CommandResult {
    set_follower_reads(ctx, false)
}

fn set_follower_reads(ctx: &mut Ctx<'_>, on: bool) -> CommandResult {
    if ctx.shared.follower_reads.is_none() {
        return Err(CommandError::err(
            "This instance has cluster support disabled",
        ));
    }
    ctx.session.follower_reads = on;
    ctx.reply().ok();
    Ok(())
}

/// Checks credentials; counts and logs a failure. Nothing the client sent
/// is logged: a user name typed in the wrong slot may be a password.
/// Every refusal is the same `WRONGPASS` to the client.
///
/// A secret of the API-key form (`hk_...`) is checked as an API key only,
/// in either slot, so it never costs a password hash and never counts as
/// a failed password of the user it names.
fn authenticate(
    ctx: &Ctx<'_>,
    user: Option<&[u8]>,
    secret: &[u8],
) -> Result<Principal, CommandError> {
    let authorizer = &ctx.shared.authorizer;
    let source = ctx.session.peer.ip().to_string();
    let is_api_key = secret.starts_with(TOKEN_PREFIX.as_bytes());
    let outcome = match user {
        None => authorizer.authenticate_api_key(secret, &source),
        Some(user) if is_api_key => {
            authorizer
                .authenticate_api_key(secret, &source)
                .and_then(|principal| {
                    // An API key stands in for the password of its owner.
                    if principal.name().as_bytes() == user || user == DEFAULT_USER.as_bytes() {
                        Ok(principal)
                    } else {
                        Err(AuthFailure::InvalidCredentials)
                    }
                })
        }
        Some(user) => {
            let user = String::from_utf8_lossy(user);
            authorizer.authenticate(&user, secret, &source)
        }
    };
    outcome.map_err(|failure| {
        ServerMetrics::add(&ctx.metrics().auth_failures, 1);
        tracing::info!(
            id = ctx.session.id,
            peer = %ctx.session.peer,
            api_key = is_api_key || user.is_none(),
            %failure,
            "authentication failed"
        );
        match failure {
            AuthFailure::Unavailable(_) => {
                CommandError::err("authentication is unavailable; see the server log")
            }
            _ => CommandError::wrong_pass(),
        }
    })
}

pub(crate) fn auth(ctx: &mut Ctx<'_>, request: &Request<'_>) -> CommandResult {
    if !ctx.shared.authorizer.requires_auth() {
        return Err(CommandError::err(
            "AUTH <password> called without any password configured for the default user. \
             Are you sure your configuration is correct?",
        ));
    }
    let principal = match request.len() {
        2 => authenticate(ctx, None, request.arg(1))?,
        3 => authenticate(ctx, Some(request.arg(1)), request.arg(2))?,
        _ => return Err(CommandError::syntax()),
    };
    tracing::debug!(
        id = ctx.session.id,
        user = principal.name(),
        "authenticated"
    );
    ctx.session.principal = Some(principal);
    ctx.reply().ok();
    Ok(())
}

pub(crate) fn hello(ctx: &mut Ctx<'_>, request: &Request<'_>) -> CommandResult {
    let mut protocol = ctx.session.protocol;
    if let Some(version) = request.get(1) {
        protocol = match parse_i64_arg(version)? {
            2 => Protocol::Resp2,
            3 => Protocol::Resp3,
            _ => return Err(CommandError::coded("NOPROTO unsupported protocol version")),
        };
    }
    let mut principal = None;
    let mut name = None;
    let mut i = 2;
    while i < request.len() {
        let option = request.arg(i);
        if is(option, "AUTH") && i + 2 < request.len() {
            principal = Some(authenticate(
                ctx,
                Some(request.arg(i + 1)),
                request.arg(i + 2),
            )?);
            i += 3;
        } else if is(option, "SETNAME") && i + 1 < request.len() {
            name = Some(checked_client_name(request.arg(i + 1))?);
            i += 2;
        } else {
            return Err(CommandError::err(format_args!(
                "Syntax error in HELLO option '{}'",
                String::from_utf8_lossy(option)
            )));
        }
    }
    if principal.is_none() && ctx.session.principal.is_none() {
        return Err(CommandError::coded(
            "NOAUTH HELLO must be called with the client already authenticated, otherwise the \
             HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and \
             select the RESP protocol version at the same time",
        ));
    }
    if principal.is_some() {
        ctx.session.principal = principal;
    }
    if name.is_some() {
        ctx.session.name = name;
    }
    ctx.session.protocol = protocol;
    let id = ctx.session.id as i64;
    let mut reply = ctx.reply();
    reply.map(7);
    reply.bulk(b"server");
    reply.bulk(b"hightower");
    reply.bulk(b"version");
    reply.bulk(SERVER_VERSION.as_bytes());
    reply.bulk(b"proto");
    reply.integer(protocol.version());
    reply.bulk(b"id");
    reply.integer(id);
    reply.bulk(b"mode");
    reply.bulk(b"standalone");
    reply.bulk(b"role");
    reply.bulk(b"master");
    reply.bulk(b"modules");
    reply.array(0);
    Ok(())
}

fn parse_i64_arg(arg: &[u8]) -> Result<i64, CommandError> {
    parse_int(arg)
        .map_err(|_| CommandError::err("Protocol version is not an integer or out of range"))
}

fn checked_client_name(name: &[u8]) -> Result<Vec<u8>, CommandError> {
    if name.len() > CLIENT_NAME_BYTES_MAX || !name.iter().all(|b| b.is_ascii_graphic()) {
        return Err(CommandError::err(
            "Client names cannot contain spaces, newlines or special characters.",
        ));
    }
    Ok(name.to_vec())
}

pub(crate) fn client(ctx: &mut Ctx<'_>, request: &Request<'_>) -> CommandResult {
    let sub = request.arg(1);
    let n_args = request.len();
    if is(sub, "ID") && n_args == 2 {
        let id = ctx.session.id as i64;
        ctx.reply().integer(id);
    } else if is(sub, "SETNAME") && n_args == 3 {
        let name = checked_client_name(request.arg(2))?;
        ctx.session.name = (!name.is_empty()).then_some(name);
        ctx.reply().ok();
    } else if is(sub, "GETNAME") && n_args == 2 {
        match ctx.session.name.clone() {
            Some(name) => ctx.reply().bulk(&name),
            None => ctx.reply().null(),
        }
    } else if is(sub, "INFO") && n_args == 2 {
        let line = client_info_line(ctx);
        ctx.reply().verbatim_text(line.as_bytes());
    } else if is(sub, "SETINFO") && n_args == 4 {
        let value = request.arg(3);
        if !value.iter().all(|b| b.is_ascii_graphic()) || value.len() > CLIENT_NAME_BYTES_MAX {
            return Err(CommandError::err(
                "lib-name and lib-ver cannot contain spaces, newlines or special characters.",
            ));
        }
        if is(request.arg(2), "LIB-NAME") {
            ctx.session.library.0 = Some(value.to_vec());
        } else if is(request.arg(2), "LIB-VER") {
            ctx.session.library.1 = Some(value.to_vec());
        } else {
            return Err(CommandError::err(format_args!(
                "Unrecognized option '{}'",
                String::from_utf8_lossy(request.arg(2))
            )));
        }
        ctx.reply().ok();
    } else {
        return Err(unknown_subcommand(sub, "CLIENT"));
    }
    Ok(())
}

/// `CLIENT INFO`: the connection's fields in Redis's `key=value` form.
fn client_info_line(ctx: &Ctx<'_>) -> String {
    let session = &ctx.session;
    let text = |bytes: &Option<Vec<u8>>| {
        bytes
            .as_deref()
            .map(String::from_utf8_lossy)
            .unwrap_or_default()
            .into_owned()
    };
    let local = session.local.map(|a| a.to_string()).unwrap_or_default();
    format!(
        "id={} addr={} laddr={} name={} age={} idle=0 flags=N db=0 cmd=client|info user={} \
         lib-name={} lib-ver={} resp={}\n",
        session.id,
        session.peer,
        local,
        text(&session.name),
        session.created.elapsed().as_secs(),
        session.principal.as_ref().map_or("", |p| p.name()),
        text(&session.library.0),
        text(&session.library.1),
        session.protocol.version(),
    )
}

pub(crate) fn unknown_subcommand(sub: &[u8], command: &str) -> CommandError {
    CommandError::err(format_args!(
        "unknown subcommand or wrong number of arguments for '{}'. Try {command} HELP.",
        String::from_utf8_lossy(&sub[..sub.len().min(64)])
    ))
}

pub(crate) fn command(ctx: &mut Ctx<'_>, request: &Request<'_>) -> CommandResult {
    let Some(sub) = request.get(1) else {
        let mut reply = ctx.reply();
        reply.array(TABLE.len());
        TABLE
            .iter()
            .for_each(|spec| command_entry(&mut reply, spec));
        return Ok(());
    };
    let mut reply = ctx.reply();
    if is(sub, "COUNT") && request.len() == 2 {
        reply.integer(TABLE.len() as i64);
    } else if is(sub, "LIST") && request.len() == 2 {
        reply.array(TABLE.len());
        TABLE
            .iter()
            .for_each(|spec| reply.bulk(spec.name.as_bytes()));
    } else if is(sub, "INFO") {
        reply.array(request.len() - 2);
        for name in request.args().skip(2) {
            match lookup(name) {
                Some(spec) => command_entry(&mut reply, spec),
                None => reply.null_array(),
            }
        }
    } else if is(sub, "DOCS") {
        // No documentation is served; clients fall back to their own.
        reply.map(0);
    } else {
        return Err(unknown_subcommand(sub, "COMMAND"));
    }
    Ok(())
}

/// One entry of `COMMAND`, in Redis 7's ten-field form.
fn command_entry(reply: &mut ReplyWriter<'_>, spec: &CommandSpec) {
    reply.array(10);
    reply.bulk(spec.name.as_bytes());
    reply.integer(i64::from(spec.arity));
    reply.set(spec.flags.len());
    spec.flags.iter().for_each(|flag| reply.simple(flag));
    let (first, last, step) = spec.keys;
    reply.integer(i64::from(first));
    reply.integer(i64::from(last));
    reply.integer(i64::from(step));
    reply.set(0);
    reply.array(0);
    reply.array(0);
    reply.array(0);
}

pub(crate) fn acl(ctx: &mut Ctx<'_>, request: &Request<'_>) -> CommandResult {
    let sub = request.arg(1);
    if !(is(sub, "WHOAMI") && request.len() == 2) {
        return Err(unknown_subcommand(sub, "ACL"));
    }
    let name = ctx
        .principal()
        .map(|p| p.name().to_string())
        .unwrap_or_default();
    ctx.reply().bulk(name.as_bytes());
    Ok(())
}
