//! `pollen sage-sim` starts the simulator and says where.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};

#[test]
fn sage_sim_prints_its_address_and_serves() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_pollen"))
        .args(["sage-sim", "--listen", "127.0.0.1:0", "--records", "5"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting pollen sage-sim");
    let mut first_line = String::new();
    BufReader::new(child.stdout.take().expect("piped stdout"))
        .read_line(&mut first_line)
        .expect("reading the first line");
    let addr = first_line
        .trim_end()
        .strip_prefix("listening on http://")
        .unwrap_or_else(|| panic!("unexpected first line {first_line:?}"))
        .to_owned();

    // An unauthenticated list call gets Sage's 401, which proves the API is being served.
    let mut stream = TcpStream::connect(&addr).expect("connecting to the simulator");
    write!(
        stream,
        "GET /v3.1/contacts HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .expect("sending a request");
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .expect("reading the response");
    child.kill().expect("stopping the simulator");
    child.wait().expect("reaping the simulator");
    assert!(response.starts_with("HTTP/1.1 401"), "{response}");
}
