//! Fuzzes the control-line parser: any bytes must give a Command or a
//! ParseError, never a panic, and `verb_of` (used in log lines) stays short.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pocketftpd::protocol::command::{parse, verb_of};

fuzz_target!(|line: &[u8]| {
    let _ = parse(line);
    assert!(verb_of(line).chars().count() <= 8);
});
