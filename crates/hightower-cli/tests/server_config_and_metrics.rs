//! `hightower serve`: settings from a TOML file with flags overriding it,
//! the Prometheus endpoint, and the refusal of bad settings (an unknown
//! key in the file, `--no-auth` off loopback).

mod server_common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;

use anyhow::{Result, ensure};
use redis::cmd;
use server_common::{SOCKET_TIMEOUT, TestServer};

fn http_get(addr: std::net::SocketAddr, path: &str) -> Result<String> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(SOCKET_TIMEOUT))?;
    write!(stream, "GET {path} HTTP/1.1\r\nHost: test\r\n\r\n")?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    Ok(response)
}

#[test]
fn file_settings_flags_and_metrics_endpoint() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let config = dir.path().join("hightower.toml");
    std::fs::write(
        &config,
        "durability = \"none\"\nmax_connections = 1\nmetrics_listen = \"127.0.0.1:0\"\n\
         idle_timeout_secs = 77\n",
    )?;
    let config_arg = config.to_string_lossy().into_owned();
    let server = TestServer::start_open(
        &dir.path().join("data"),
        &["--config", &config_arg, "--max-connections", "5"],
    )?;
    let mut con = server.connect()?;
    let settings: Vec<String> = cmd("CONFIG")
        .arg("GET")
        .arg("maxclients")
        .arg("appendfsync")
        .arg("timeout")
        .query(&mut con)?;
    assert_eq!(
        settings,
        ["appendfsync", "no", "maxclients", "5", "timeout", "77"],
        "the file sets durability and timeout, the flag overrides maxclients"
    );
    let _: () = cmd("SET").arg("k").arg("v").query(&mut con)?;

    let metrics_addr = server.metrics_addr.expect("metrics endpoint configured");
    let response = http_get(metrics_addr, "/metrics")?;
    ensure!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
    for needle in [
        "# TYPE hightower_server_commands_processed_total counter\n",
        "\nhightower_engine_puts_total 1\n",
        "\nhightower_engine_keys 1\n",
        "\nhightower_server_connected_clients 1\n",
        "hightower_engine_commit_latency_seconds_count 1\n",
    ] {
        ensure!(
            response.contains(needle),
            "missing {needle:?} in\n{response}"
        );
    }
    ensure!(http_get(metrics_addr, "/other")?.starts_with("HTTP/1.1 404"));
    Ok(())
}

#[test]
fn bad_settings_are_refused_before_serving() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let data = dir.path().join("data");
    let config = dir.path().join("bad.toml");
    std::fs::write(&config, "max_conections = 3\n")?;
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_hightower"))
            .arg("--data-dir")
            .arg(&data)
            .arg("serve")
            .args(args)
            .output()
    };
    let output = run(&["--config", &config.to_string_lossy(), "--no-auth"])?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    ensure!(output.status.code() == Some(2), "{output:?}");
    ensure!(stderr.contains("max_conections"), "{stderr}");

    let output = run(&["--listen", "0.0.0.0:0", "--no-auth"])?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    ensure!(output.status.code() == Some(2), "{output:?}");
    ensure!(stderr.contains("only on a loopback address"), "{stderr}");
    Ok(())
}
