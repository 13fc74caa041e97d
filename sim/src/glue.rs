//! Adapters over protocol modules that are still changing. Every call the simulator makes into
//! `pinpoint_protocol::dispute` goes through [`dispute`], so re-pointing the simulator at a new
//! dispute API means editing that one file.

pub mod dispute;
