//! The FTP control protocol: parsing commands and formatting replies.

pub mod command;
pub mod reply;
